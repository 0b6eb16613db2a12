package kernels

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOnlyEnv(t *testing.T) {
	deb := Kernel{Name: "debian-5.10-cloud", Version: "5.10.223", Source: SourceDebian,
		Debian: &Debian{Suite: "bullseye", Package: "linux-image-5.10.0-32-cloud-amd64", Version: "5.10.223-1", SHA256: sha256Bytes([]byte("x"))}}
	build := Kernel{Name: "tiny-6.1", Version: "6.1.192", Source: SourceBuild, Build: &Build{
		Debian: &Debian{Suite: "bookworm-security", Package: "linux-source-6.1", Version: "6.1.192-3", SHA256: sha256Bytes([]byte("y"))}}}
	for _, tc := range []struct {
		name    string
		only    string // "-": unset
		fetcher Fetcher
		kernel  Kernel
		refused bool
	}{
		{"unset allows all", "-", Fetcher{}, deb, false},
		{"other kernel refused", "debian-6.1-cloud", Fetcher{}, deb, true},
		{"listed kernel allowed", "debian-6.1-cloud, debian-5.10-cloud", Fetcher{}, deb, false},
		{"build refused", "debian-6.1-cloud", Fetcher{}, build, true},
		{"empty list refuses all", "", Fetcher{}, deb, true},
		{"fake apt-get not limited", "debian-6.1-cloud", Fetcher{AptGet: "/nonexistent/apt-get"}, deb, false},
		{"fake make not limited", "debian-6.1-cloud", Fetcher{Make: "/nonexistent/make"}, build, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.only == "-" {
				t.Setenv(OnlyEnv, "")
				require.NoError(t, os.Unsetenv(OnlyEnv))
			} else {
				t.Setenv(OnlyEnv, tc.only)
			}
			f := tc.fetcher
			f.CacheDir = t.TempDir()
			f.SourcesFiles = []string{"/nonexistent/sources"}
			_, err := f.Fetch(context.Background(), tc.kernel)
			// Allowed fetches fail later, for want of sources or a tree.
			require.Error(t, err)
			assert.Equal(t, tc.refused, errors.Is(err, ErrNotAllowed), "%v", err)
			if tc.refused {
				assert.Contains(t, err.Error(), tc.kernel.Name)
				assert.Contains(t, err.Error(), "make test-long")
			}
		})
	}
}

func TestOnlyEnvBuild(t *testing.T) {
	t.Setenv(OnlyEnv, "debian-6.1-cloud")
	tree, frag := t.TempDir(), filepath.Join(t.TempDir(), "frag.config")
	require.NoError(t, os.WriteFile(filepath.Join(tree, "Makefile"), nil, 0o644))
	require.NoError(t, os.WriteFile(frag, []byte("CONFIG_SMP=y\n"), 0o644))
	_, err := (&Fetcher{CacheDir: t.TempDir()}).Build(context.Background(), BuildSpec{Name: "ci-head", Tree: tree, Fragment: frag})
	require.ErrorIs(t, err, ErrNotAllowed)
	assert.Contains(t, err.Error(), "build kernel ci-head")
}
