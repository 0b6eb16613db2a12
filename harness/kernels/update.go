package kernels

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"coldstart/internal/atomicfile"
)

// ErrUpToDate is returned by Update when the pin is already the newest of
// its series.
var ErrUpToDate = errors.New("already the newest of its series")

// Repin is a new pin for a kernel file: field ("version", "debian.sha256",
// "gomod.version", ...) to its new value.
type Repin struct {
	Kernel  string
	Changes map[string]string
	Old     map[string]string
}

// String lists the changes, one "field: old -> new" per line.
func (r *Repin) String() string {
	keys := make([]string, 0, len(r.Changes))
	for k := range r.Changes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %s -> %s\n", k, r.Old[k], r.Changes[k])
	}
	return b.String()
}

// Update finds the newest version of k's series that its source serves
// today: for a Debian package, the newest package of the same series
// (linux-image 6.1 cloud-amd64) in the same suite, with the SHA-256 from
// the suite's signed index (and, for sid, the matching config package); for
// a Go module, the version its proxy gives as latest, downloaded to hash the
// image. It refreshes the package lists first. It returns ErrUpToDate when
// there is nothing newer. The caller writes the result with RewriteKernelFile.
func (f *Fetcher) Update(ctx context.Context, k Kernel) (*Repin, error) {
	if err := k.validate(); err != nil {
		return nil, err
	}
	cache, err := f.cacheDir()
	if err != nil {
		return nil, err
	}
	r := &Repin{Kernel: k.Name, Changes: map[string]string{}, Old: map[string]string{}}
	set := func(field, old, new string) {
		if old != new {
			r.Old[field], r.Changes[field] = old, new
		}
	}
	switch k.Source {
	case SourceDebian, SourceBuild:
		d, sec := k.Debian, "debian"
		if k.Source == SourceBuild {
			d, sec = k.Build.Debian, "build.debian"
			if d == nil {
				return nil, fmt.Errorf("kernel %s builds from %s: nothing to re-pin (update the tree yourself)", k.Name, k.Build.Tree)
			}
		}
		a, _, err := f.prepareApt(cache, d.Suite)
		if err != nil {
			return nil, err
		}
		unlock, err := lockFile(a.dir + ".lock")
		if err != nil {
			return nil, err
		}
		err = f.update(ctx, a, "looking for the newest "+Series(d.Package))
		if err != nil {
			unlock()
			return nil, err
		}
		es, err := a.packages()
		unlock()
		if err != nil {
			return nil, err
		}
		n, ok := newestInSeries(es, d.Package)
		if !ok {
			return nil, fmt.Errorf("kernel %s: %s serves no package of the series %q any more: pin another suite or series", k.Name, d.Suite, Series(d.Package))
		}
		if n.Package == d.Package && n.Version == d.Version && n.SHA256 == d.SHA256 {
			return nil, fmt.Errorf("kernel %s: %s=%s: %w", k.Name, d.Package, d.Version, ErrUpToDate)
		}
		if !sha256RE.MatchString(n.SHA256) {
			return nil, fmt.Errorf("kernel %s: the %s index has no SHA256 for %s=%s", k.Name, d.Suite, n.Package, n.Version)
		}
		set(sec+".package", d.Package, n.Package)
		set(sec+".version", d.Version, n.Version)
		set(sec+".sha256", d.SHA256, n.SHA256)
		set("version", k.Version, upstreamOf(n.Version))
		if c := d.Config; c != nil {
			var cn *pkgEntry
			for i, e := range es {
				if Series(e.Package) == Series(c.Package) && e.Version == n.Version {
					cn = &es[i]
					break
				}
			}
			if cn == nil {
				return nil, fmt.Errorf("kernel %s: %s has %s=%s but no %s package of version %s", k.Name, d.Suite, n.Package, n.Version, Series(c.Package), n.Version)
			}
			set(sec+".config.package", c.Package, cn.Package)
			set(sec+".config.version", c.Version, cn.Version)
			set(sec+".config.sha256", c.SHA256, cn.SHA256)
		}
	case SourceGoMod:
		g := k.GoMod
		latest := *g
		latest.Version = "latest"
		d, err := f.goModDownload(ctx, cache, &latest)
		if err != nil {
			return nil, fmt.Errorf("kernel %s: %w", k.Name, err)
		}
		if d.Version == g.Version {
			return nil, fmt.Errorf("kernel %s: %s@%s: %w", k.Name, g.Module, g.Version, ErrUpToDate)
		}
		bz, err := os.ReadFile(filepath.Join(d.Dir, filepath.FromSlash(g.Path)))
		removeModuleDir(d.Dir)
		if err != nil {
			return nil, fmt.Errorf("kernel %s: %s@%s has no %s: %w", k.Name, g.Module, d.Version, g.Path, err)
		}
		set("gomod.version", g.Version, d.Version)
		set("gomod.sha256", g.SHA256, sha256Bytes(bz))
		if g.Sum != "" {
			set("gomod.sum", g.Sum, d.Sum)
		}
		if h, err := ParseBzImage(bz); err == nil {
			if v := upstreamRelease(h.Release()); v != "" {
				set("version", k.Version, v)
			}
		}
	default:
		return nil, fmt.Errorf("kernel %s: source %q has no upstream to re-pin from", k.Name, k.Source)
	}
	return r, nil
}

var releaseVersionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?(-rc[0-9]+)?`)

// upstreamRelease returns the upstream version at the start of a kernel
// release string ("7.1.2" of "7.1.2-gokrazy").
func upstreamRelease(rel string) string { return releaseVersionRE.FindString(rel) }

var (
	tomlSectionRE = regexp.MustCompile(`^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(#.*)?$`)
	tomlStringRE  = regexp.MustCompile(`^(\s*([A-Za-z0-9_-]+)\s*=\s*)"([^"\\]*)"(.*)$`)
)

// RewriteKernelFile applies changes (field "section.key" or "key" at the
// top level, to a string value) to a kernel file, keeping its comments and
// layout, and replaces the file atomically. Every field must already be
// present, and the result must load.
func RewriteKernelFile(path string, changes map[string]string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\n")
	section := ""
	done := map[string]bool{}
	for i, l := range lines {
		if m := tomlSectionRE.FindStringSubmatch(l); m != nil {
			section = m[1]
			continue
		}
		m := tomlStringRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		field := m[2]
		if section != "" {
			field = section + "." + m[2]
		}
		v, ok := changes[field]
		if !ok {
			continue
		}
		if strings.ContainsAny(v, "\"\\\n") {
			return fmt.Errorf("%s: refusing value %q for %s", path, v, field)
		}
		lines[i] = m[1] + strconv.Quote(v) + m[4]
		done[field] = true
	}
	for field := range changes {
		if !done[field] {
			return fmt.Errorf("%s: field %s not found as a plain string (key = \"value\"): edit the file by hand", path, field)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	out := []byte(strings.Join(lines, "\n"))
	tmp, err := os.CreateTemp("", "kernel-*.toml")
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := os.WriteFile(tmp.Name(), out, 0o644); err != nil {
		return err
	}
	if _, err := LoadFile(tmp.Name()); err != nil {
		return fmt.Errorf("the re-pinned file would not load: %w", err)
	}
	return atomicfile.WriteFile(path, out, st.Mode().Perm())
}
