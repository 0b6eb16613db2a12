package kernels

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ErrNoMirror is returned when the machine's APT sources hold no Debian entry
// usable for the requested suite.
var ErrNoMirror = errors.New("no Debian mirror in the APT sources")

// aptSource is one enabled "deb" entry of an APT sources file.
type aptSource struct {
	URIs       []string
	Suites     []string
	Components []string
	SignedBy   string // a path, a fingerprint list, or an inline key block
	File       string // the file it came from
}

// debianCodenames are the release names and aliases of Debian suites. They
// identify which entries of the system's sources are Debian's.
var debianCodenames = map[string]bool{
	"hamm": true, "slink": true, "potato": true, "woody": true, "sarge": true,
	"etch": true, "lenny": true, "squeeze": true, "wheezy": true, "jessie": true,
	"stretch": true, "buster": true, "bullseye": true, "bookworm": true,
	"trixie": true, "forky": true, "duke": true, "sid": true,
	"stable": true, "oldstable": true, "oldoldstable": true, "testing": true,
	"unstable": true, "experimental": true,
}

// suiteBase returns the release part of a suite: "bookworm" for
// "bookworm-security", "buster" for "buster/updates".
func suiteBase(s string) string {
	s = strings.TrimSuffix(s, "/updates")
	if i := strings.IndexByte(s, '-'); i >= 0 {
		s = s[:i]
	}
	return s
}

func isSecuritySuite(s string) bool {
	return strings.HasSuffix(s, "-security") || strings.HasSuffix(s, "/updates")
}

// DefaultSourcesFiles returns the machine's APT sources files:
// /etc/apt/sources.list and /etc/apt/sources.list.d/*.list and *.sources, in
// the order APT reads them.
func DefaultSourcesFiles() []string {
	files := []string{"/etc/apt/sources.list"}
	var parts []string
	for _, pat := range []string{"*.list", "*.sources"} {
		m, _ := filepath.Glob(filepath.Join("/etc/apt/sources.list.d", pat))
		parts = append(parts, m...)
	}
	sort.Strings(parts)
	return append(files, parts...)
}

// readSources parses the given files, skipping ones that do not exist.
func readSources(files []string) ([]aptSource, error) {
	var all []aptSource
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var srcs []aptSource
		if strings.HasSuffix(f, ".sources") {
			srcs, err = parseDeb822Sources(string(data))
		} else {
			srcs, err = parseOneLineSources(string(data))
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for i := range srcs {
			srcs[i].File = f
		}
		all = append(all, srcs...)
	}
	return all, nil
}

// parseOneLineSources parses the classic "deb [opts] uri suite comp..." format.
func parseOneLineSources(text string) ([]aptSource, error) {
	var out []aptSource
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		typ, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		opts := map[string]string{}
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("line %d: unterminated [options]", n)
			}
			for _, kv := range strings.Fields(rest[1:end]) {
				k, v, _ := strings.Cut(kv, "=")
				opts[strings.ToLower(k)] = v
			}
			rest = strings.TrimSpace(rest[end+1:])
		}
		f := strings.Fields(rest)
		if typ != "deb" {
			continue
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("line %d: want \"deb URI suite [component...]\"", n)
		}
		out = append(out, aptSource{
			URIs:       []string{f[0]},
			Suites:     []string{f[1]},
			Components: f[2:],
			SignedBy:   opts["signed-by"],
		})
	}
	return out, sc.Err()
}

// parseDeb822Sources parses the deb822 ".sources" format.
func parseDeb822Sources(text string) ([]aptSource, error) {
	var out []aptSource
	stanza := map[string]string{}
	var last string
	flush := func() {
		defer func() { stanza = map[string]string{}; last = "" }()
		if len(stanza) == 0 {
			return
		}
		if e := strings.ToLower(strings.TrimSpace(stanza["enabled"])); e == "no" || e == "false" {
			return
		}
		if !contains(strings.Fields(stanza["types"]), "deb") {
			return
		}
		out = append(out, aptSource{
			URIs:       strings.Fields(stanza["uris"]),
			Suites:     strings.Fields(stanza["suites"]),
			Components: strings.Fields(stanza["components"]),
			SignedBy:   strings.TrimSpace(stanza["signed-by"]),
		})
	}
	for n, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last == "" {
				return nil, fmt.Errorf("line %d: continuation line without a field", n+1)
			}
			stanza[last] += "\n" + line
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want \"Field: value\"", n+1)
		}
		last = strings.ToLower(strings.TrimSpace(k))
		stanza[last] = strings.TrimSpace(v)
	}
	flush()
	return out, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// mirror is what the private APT configuration needs from the system's
// sources: where to download from and which keyring to trust.
type mirror struct {
	URI      string
	SignedBy string
	From     string // file the entry came from, for messages
}

// pickMirror chooses the Debian entry for suite: for a "-security" suite the
// entry carrying a security suite, otherwise a Debian entry without one. An
// entry that already lists suite wins over one that does not.
func pickMirror(srcs []aptSource, suite string) (mirror, error) {
	wantSec := isSecuritySuite(suite)
	var best *aptSource
	bestScore := -1
	for i := range srcs {
		s := &srcs[i]
		if len(s.URIs) == 0 || strings.HasPrefix(s.URIs[0], "cdrom:") {
			continue
		}
		score := -1
		for _, su := range s.Suites {
			if !debianCodenames[suiteBase(su)] || isSecuritySuite(su) != wantSec {
				continue
			}
			sc := 1
			if su == suite {
				sc = 3
			} else if suiteBase(su) == suiteBase(suite) {
				sc = 2
			}
			if sc > score {
				score = sc
			}
		}
		if score > bestScore {
			best, bestScore = s, score
		}
	}
	if best == nil || bestScore < 0 {
		kind := "a Debian entry (a suite such as bookworm)"
		if wantSec {
			kind = "a Debian security entry (a suite ending in -security)"
		}
		return mirror{}, fmt.Errorf("%w for suite %q: none of the enabled \"deb\" entries is %s; add one to the machine's APT sources", ErrNoMirror, suite, kind)
	}
	return mirror{URI: best.URIs[0], SignedBy: best.SignedBy, From: best.File}, nil
}

// sourcesFor renders the private deb822 sources file for suite.
func (m mirror) sourcesFor(suite string) string {
	var b strings.Builder
	b.WriteString("# Written by coldstart from " + m.From + "; only the suite differs.\n")
	b.WriteString("Types: deb\n")
	b.WriteString("URIs: " + m.URI + "\n")
	b.WriteString("Suites: " + suite + "\n")
	b.WriteString("Components: main\n")
	b.WriteString("Architectures: amd64\n")
	switch lines := strings.Split(m.SignedBy, "\n"); {
	case m.SignedBy == "":
	case len(lines) == 1:
		b.WriteString("Signed-By: " + m.SignedBy + "\n")
	default: // an inline key block: one field line, then continuation lines
		b.WriteString("Signed-By:\n")
		for _, l := range lines {
			b.WriteString(" " + strings.TrimSpace(l) + "\n")
		}
	}
	return b.String()
}
