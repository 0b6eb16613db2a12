package kernels

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"coldstart/harness/kernels/version"
)

// pkgEntry is one stanza of an APT Packages index.
type pkgEntry struct {
	Package, Version, SHA256 string
	Size                     int64
}

// packages reads the private Packages indexes of the suite. Indexes APT
// stored compressed are read through apt-helper cat-file.
func (a aptDir) packages() ([]pkgEntry, error) {
	files, _ := filepath.Glob(filepath.Join(a.dir, "lists", "*_dists_"+a.suite+"_*Packages*"))
	if len(files) == 0 {
		return nil, fmt.Errorf("no package lists for %s in %s", a.suite, a.dir)
	}
	var out []pkgEntry
	for _, p := range files {
		var r io.Reader
		if strings.HasSuffix(p, "_Packages") {
			f, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			r = f
		} else {
			data, err := exec.Command("/usr/lib/apt/apt-helper", "cat-file", p).Output()
			if err != nil {
				return nil, fmt.Errorf("apt-helper cat-file %s: %w", p, err)
			}
			r = bytes.NewReader(data)
		}
		es, err := parsePackages(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, es...)
	}
	return out, nil
}

// parsePackages reads the fields this package needs from a Packages index.
func parsePackages(r io.Reader) ([]pkgEntry, error) {
	var out []pkgEntry
	var e pkgEntry
	flush := func() {
		if e.Package != "" && e.Version != "" {
			out = append(out, e)
		}
		e = pkgEntry{}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch k {
		case "Package":
			e.Package = v
		case "Version":
			e.Version = v
		case "SHA256":
			e.SHA256 = v
		case "Size":
			e.Size, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	flush()
	return out, sc.Err()
}

// lookup finds package=version in the private lists.
func (a aptDir) lookup(pkg, version string) (pkgEntry, bool) {
	es, err := a.packages()
	if err != nil {
		return pkgEntry{}, false
	}
	for _, e := range es {
		if e.Package == pkg && e.Version == version {
			return e, true
		}
	}
	return pkgEntry{}, false
}

// seriesRE splits a Debian kernel package name into its kind
// (linux-image, linux-binary, linux-base, ...), upstream major.minor and
// flavour, dropping the point release and the ABI number that change from
// one upload to the next: linux-image-6.1.0-57-cloud-amd64,
// linux-image-6.1.0-0.deb11.48-cloud-amd64, linux-image-6.12.117+deb13-cloud-amd64,
// linux-binary-7.2.13+deb14-cloud-amd64.
var seriesRE = regexp.MustCompile(`^(linux-[a-z]+)-([0-9]+\.[0-9]+)(?:\.[0-9]+)?(?:\+deb[0-9]+(?:\.[0-9]+)?)?(?:-(?:[0-9]+|0\.deb[0-9]+\.[0-9]+))?-([a-z][a-z0-9-]*)$`)

// Series returns the series a Debian kernel package belongs to: packages of
// one series differ only in point release and ABI ("linux-image 6.1
// cloud-amd64"). A package whose name carries no version (linux-source-6.1
// carries only the series) is its own series.
func Series(pkg string) string {
	m := seriesRE.FindStringSubmatch(pkg)
	if m == nil {
		return pkg
	}
	return m[1] + " " + m[2] + " " + m[3]
}

// newestInSeries returns the newest entry of the same series as pkg, and
// whether one exists.
func newestInSeries(es []pkgEntry, pkg string) (pkgEntry, bool) {
	want := Series(pkg)
	var best pkgEntry
	found := false
	for _, e := range es {
		if Series(e.Package) != want {
			continue
		}
		if !found || version.Debian(e.Version, best.Version) > 0 {
			best, found = e, true
		}
	}
	return best, found
}

// upstreamOf returns the upstream part of a Debian kernel package version:
// "6.12.117" for "6.12.117-1~deb12u1".
func upstreamOf(debVersion string) string {
	v := debVersion
	if i := strings.IndexByte(v, ':'); i >= 0 {
		v = v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		v = v[:i]
	}
	return v
}

// StaleError says a pinned package is no longer served, and what the newest
// package of the same series is. It wraps ErrPackageNotFound.
type StaleError struct {
	Kernel, File   string // the kernel and its file, when known
	Suite, Package string
	Version        string
	Newest         *pkgEntry // newest of the same series still served, nil if none
	Output         string    // apt-get's complaint
}

func (e *StaleError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s=%s is no longer served by %s: the archive dropped this version (%s)", e.Package, e.Version, e.Suite, strings.TrimSpace(e.Output))
	name := e.Kernel
	if name == "" {
		name = "NAME"
	}
	if e.Newest != nil {
		fmt.Fprintf(&b, "; the newest of the same series is %s=%s: run `coldstart kernels update %s` to re-pin it", e.Newest.Package, e.Newest.Version, name)
	} else {
		fmt.Fprintf(&b, "; %s serves no package of the series %q any more: pin another suite or series, or fetch the old .deb from Debian's snapshot archive and use it as a file kernel", e.Suite, Series(e.Package))
	}
	return b.String()
}

func (e *StaleError) Unwrap() error { return ErrPackageNotFound }

// staleError builds the error for a package version apt-get cannot find.
func (f *Fetcher) staleError(a aptDir, d *Debian, out []byte) error {
	e := &StaleError{Suite: d.Suite, Package: d.Package, Version: d.Version, Output: tail(out, 2)}
	if es, err := a.packages(); err == nil {
		if n, ok := newestInSeries(es, d.Package); ok {
			e.Newest = &n
		}
	}
	return e
}
