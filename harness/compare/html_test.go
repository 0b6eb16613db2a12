package compare

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHTMLIsSelfContained(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteHTML(&b, PageFromReport(tracedReport(t))))
	page := b.String()
	assert.Contains(t, page, `<svg class="icicle"`)
	assert.Equal(t, 6, strings.Count(page, `<svg class="chart"`), "one chart per scenario")
	assert.Contains(t, page, "▲ regressed")
	for _, remote := range []string{"http://", "https://", "//cdn", "<link", "src="} {
		// The SVG namespace is an identifier, not a fetch.
		p := strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, "")
		assert.NotContains(t, p, remote)
	}
}

// chromium finds a headless browser; in CI (CI=true) its absence fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium in CI (apt-get install chromium)")
	}
	t.Skip("no chromium found (apt-get install chromium)")
	return ""
}

// ChromiumArgs are the flags for a quiet, offline headless run.
func chromiumArgs(t *testing.T) []string {
	return []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + t.TempDir()}
}

// TestHTMLRendersInChromium loads the page in headless Chromium and reads
// back the marks its script sets once every chart and icicle has been laid
// out with a size and marks in it: a page from result files with kernel
// traces carries the regressed scenario's icicle.
func TestHTMLRendersInChromium(t *testing.T) {
	bin := chromium(t)
	for _, tc := range []struct {
		name            string
		report          func(*testing.T) *Report
		charts, icicles string
	}{
		{"untraced", fixtureReport, "6", "0"},
		{"traced", tracedReport, "6", "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			page := filepath.Join(dir, "report.html")
			var b bytes.Buffer
			require.NoError(t, WriteHTML(&b, PageFromReport(tc.report(t))))
			require.NoError(t, os.WriteFile(page, b.Bytes(), 0o644))

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			args := append(chromiumArgs(t), "--dump-dom", "file://"+page)
			out, err := exec.CommandContext(ctx, bin, args...).Output()
			require.NoError(t, err, "%s %s", bin, strings.Join(args, " "))
			m := regexp.MustCompile(`data-rendered-charts="(\d+)"`).FindSubmatch(out)
			require.NotNil(t, m, "the page's script did not run:\n%.2000s", out)
			assert.Equal(t, tc.charts, string(m[1]), "charts laid out with content")
			m = regexp.MustCompile(`data-rendered-icicles="(\d+)"`).FindSubmatch(out)
			require.NotNil(t, m, "the page's script did not count icicles:\n%.2000s", out)
			assert.Equal(t, tc.icicles, string(m[1]), "icicles laid out with content")

			shot := filepath.Join(dir, "shot.png")
			args = append(chromiumArgs(t), "--window-size=1000,1400", "--screenshot="+shot, "file://"+page)
			out, err = exec.CommandContext(ctx, bin, args...).CombinedOutput()
			require.NoError(t, err, "%s", out)
			st, err := os.Stat(shot)
			require.NoError(t, err)
			assert.Greater(t, st.Size(), int64(10000), "a screenshot with something in it")
		})
	}
}
