package kernels

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"coldstart/internal/atomicfile"
)

var (
	// ErrPackageNotFound means the archive does not serve the pinned package
	// version in the pinned suite (even after refreshing the lists).
	ErrPackageNotFound = errors.New("package version not found in the archive")
	// ErrArchiveUnavailable means the package lists could not be fetched
	// (network, proxy, or a suite the archive no longer serves).
	ErrArchiveUnavailable = errors.New("Debian archive unavailable")
	// ErrNoImageInPackage means a package holds no kernel image.
	ErrNoImageInPackage = errors.New("package holds no kernel image")
)

// Fetcher turns Kernels into Images. The zero value is ready to use; every
// empty field takes its default.
type Fetcher struct {
	CacheDir     string        // default DefaultCacheDir()
	Progress     io.Writer     // progress lines; default io.Discard
	AptGet       string        // default "apt-get"
	DpkgDeb      string        // default "dpkg-deb"
	SourcesFiles []string      // APT sources to take the mirror from; default DefaultSourcesFiles()
	MaxListAge   time.Duration // refresh the private package lists when older; default 24h
	Go           string        // default "go" (for source = "gomod")
	Make         string        // default "make" (for source = "build")
	Jobs         int           // make -j for builds; default runtime.NumCPU()
	// Interactive redraws a step's progress line in place (bytes, percent,
	// the current build action); set it when Progress is a terminal and not
	// a CI log. Otherwise each step prints a line when it starts and ends.
	Interactive bool
}

func (f *Fetcher) progress() io.Writer {
	if f.Progress == nil {
		return io.Discard
	}
	return f.Progress
}

func (f *Fetcher) cacheDir() (string, error) {
	if f.CacheDir != "" {
		return f.CacheDir, nil
	}
	return DefaultCacheDir()
}

// inFile renders " (file)" for messages, or nothing when file is "".
func inFile(file string) string {
	if file == "" {
		return ""
	}
	return " (" + file + ")"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Fetch returns the verified image of k, from the cache when a verified entry
// exists, else by fetching and extracting it.
func (f *Fetcher) Fetch(ctx context.Context, k Kernel) (*Image, error) {
	if err := k.validate(); err != nil {
		return nil, err
	}
	if err := f.allow(k); err != nil {
		return nil, err
	}
	switch k.Source {
	case SourceDebian:
		return f.fetchDebian(ctx, k)
	case SourceGoMod:
		return f.fetchGoMod(ctx, k)
	case SourceBuild:
		return f.fetchBuild(ctx, k)
	case SourceFile:
		return f.fromFile(ctx, k.Name, k.Local.Path, k.Local.SHA256)
	}
	return nil, fmt.Errorf("kernel %s: source %q has no fetcher", k.Name, k.Source)
}

func (f *Fetcher) fetchDebian(ctx context.Context, k Kernel) (*Image, error) {
	d := k.Debian
	progress := f.progress()
	cache, dir, unlock, err := f.lockEntry(k.Name, d.SHA256)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if im, ok := f.cached(dir, func(m *manifest) bool {
		return m.DebSHA256 == d.SHA256 && m.Package == d.Package && m.Version == d.Version && m.Name == k.Name &&
			m.ConfigDebSH == d.configSHA256()
	}); ok {
		return im, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(dir, ".download-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	deb, err := f.fetchDeb(ctx, k, cache, d, "debian.sha256", tmp)
	if err != nil {
		return nil, err
	}
	m := &manifest{
		Name:      k.Name,
		Source:    SourceDebian,
		Package:   d.Package,
		Version:   d.Version,
		Suite:     d.Suite,
		DebSHA256: d.SHA256,
		Files:     map[string]string{},
	}
	if err := f.extractDeb(ctx, deb, dir, m); err != nil {
		return nil, fmt.Errorf("kernel %s: %s: %w", k.Name, filepath.Base(deb), err)
	}
	if m.Config != "" {
		m.ConfigFrom = "package"
	}
	if c := d.Config; c != nil {
		os.Remove(deb)
		cd := &Debian{Suite: d.Suite, Package: c.Package, Version: c.Version, SHA256: c.SHA256}
		cdeb, err := f.fetchDeb(ctx, k, cache, cd, "debian.config.sha256", tmp)
		if err != nil {
			return nil, err
		}
		m.ConfigDeb = c.Package + "=" + c.Version
		m.ConfigDebSH = c.SHA256
		if err := f.extractDeb(ctx, cdeb, dir, m); err != nil {
			return nil, fmt.Errorf("kernel %s: %s: %w", k.Name, filepath.Base(cdeb), err)
		}
		if m.Config == "" {
			return nil, fmt.Errorf("kernel %s: %s holds no config (usr/lib/modules/<release>/config or boot/config-*): fix debian.config", k.Name, m.ConfigDeb)
		}
		m.ConfigFrom = "package " + m.ConfigDeb
		deb = cdeb
	}
	os.Remove(deb)
	bz, err := os.ReadFile(filepath.Join(dir, m.BzImage))
	if err != nil {
		return nil, err
	}
	if sha256Bytes(bz) != m.Files[m.BzImage] {
		return nil, fmt.Errorf("kernel %s: %s changed while being read", k.Name, m.BzImage)
	}
	if err := deriveVmlinux(progress, dir, bz, m); err != nil {
		return nil, err
	}
	if m.Config == "" {
		if err := saveIKConfig(progress, dir, m, bz); err != nil {
			return nil, err
		}
	}
	if err := writeManifest(dir, m); err != nil {
		return nil, err
	}
	if err := os.Remove(tmp); err == nil {
		_ = syncDir(dir)
	}
	return imageFromManifest(dir, m), nil
}

func (d *Debian) configSHA256() string {
	if d.Config == nil {
		return ""
	}
	return d.Config.SHA256
}

// fetchDeb downloads the pinned .deb d into tmp and checks its SHA-256: a
// mismatch deletes the download and names both sums.
func (f *Fetcher) fetchDeb(ctx context.Context, k Kernel, cache string, d *Debian, field, tmp string) (string, error) {
	sub, err := os.MkdirTemp(tmp, "deb-")
	if err != nil {
		return "", err
	}
	deb, err := f.download(ctx, cache, d, sub)
	var se *StaleError
	if errors.As(err, &se) {
		se.Kernel, se.File = k.Name, k.File
	}
	if err != nil {
		return "", fmt.Errorf("kernel %s%s: %w", k.Name, inFile(k.File), err)
	}
	sum, size, err := sha256File(deb)
	if err != nil {
		return "", err
	}
	if sum != d.SHA256 {
		os.Remove(deb)
		return "", fmt.Errorf("kernel %s: %s=%s: %w: the download has %s, %s pins %s: if the package was rebuilt on purpose, check it and update %s; otherwise retry (the download was deleted)",
			k.Name, d.Package, d.Version, ErrChecksumMismatch, sum, orDefault(k.File, "the kernel file"), d.SHA256, field)
	}
	fmt.Fprintf(f.progress(), "verified sha256 %s of %s (%s)\n", sum, filepath.Base(deb), mb(size))
	return deb, nil
}

// aptDir is a private APT state directory for one suite.
type aptDir struct {
	dir    string
	suite  string
	mirror mirror
}

func (a aptDir) sourcesFile() string { return filepath.Join(a.dir, "coldstart.sources") }
func (a aptDir) configFile() string  { return filepath.Join(a.dir, "apt.conf") }
func (a aptDir) stamp() string       { return filepath.Join(a.dir, "updated") }

// options are the apt-get options that confine APT to the private
// directory: its own sources, lists, caches, status and preferences.
func (a aptDir) options() []string {
	d := a.dir
	opts := []string{
		"Dir::Etc::SourceList=" + a.sourcesFile(),
		"Dir::Etc::SourceParts=" + filepath.Join(d, "sources.list.d"),
		"Dir::Etc::Preferences=" + filepath.Join(d, "preferences"),
		"Dir::Etc::PreferencesParts=" + filepath.Join(d, "preferences.d"),
		"Dir::State=" + filepath.Join(d, "state"),
		"Dir::State::Lists=" + filepath.Join(d, "lists"),
		"Dir::State::status=" + filepath.Join(d, "status"),
		"Dir::Cache=" + filepath.Join(d, "cache"),
		"Dir::Cache::archives=" + filepath.Join(d, "archives"),
		"Dir::Log=" + filepath.Join(d, "log"),
		"APT::Architecture=amd64",
		"APT::Architectures=amd64",
		"Acquire::Languages=none",
		// A name that is not found must not be retried as a regular
		// expression (a "." matches anything): that can fetch gigabytes.
		"APT::Cmd::Pattern-Only=true",
	}
	if os.Geteuid() == 0 {
		// The _apt sandbox user cannot enter a cache under /root.
		opts = append(opts, "APT::Sandbox::User=root")
	}
	args := make([]string, 0, 2*len(opts)+1)
	args = append(args, "-q")
	for _, o := range opts {
		args = append(args, "-o", o)
	}
	return args
}

// prepareApt creates the private APT directory for suite. changed reports
// that the sources file was (re)written, which forces an update.
func (f *Fetcher) prepareApt(cache, suite string) (aptDir, bool, error) {
	files := f.SourcesFiles
	if files == nil {
		files = DefaultSourcesFiles()
	}
	srcs, err := readSources(files)
	if err != nil {
		return aptDir{}, false, err
	}
	mir, err := pickMirror(srcs, suite)
	if err != nil {
		return aptDir{}, false, fmt.Errorf("%w (read %s)", err, strings.Join(files, ", "))
	}
	a := aptDir{dir: filepath.Join(cache, "apt", suite), suite: suite, mirror: mir}
	for _, sub := range []string{"apt.conf.d", "sources.list.d", "preferences.d", "state", "lists/partial", "cache", "archives/partial", "log"} {
		if err := os.MkdirAll(filepath.Join(a.dir, sub), 0o755); err != nil {
			return aptDir{}, false, err
		}
	}
	status := filepath.Join(a.dir, "status")
	if _, err := os.Stat(status); err != nil {
		if err := atomicfile.WriteFile(status, nil, 0o644); err != nil {
			return aptDir{}, false, err
		}
	}
	conf := a.config(f.systemProxies())
	if have, err := os.ReadFile(a.configFile()); err != nil || string(have) != conf {
		if err := atomicfile.WriteFile(a.configFile(), []byte(conf), 0o644); err != nil {
			return aptDir{}, false, err
		}
	}
	want := mir.sourcesFor(suite)
	if have, err := os.ReadFile(a.sourcesFile()); err == nil && string(have) == want {
		return a, false, nil
	}
	if err := atomicfile.WriteFile(a.sourcesFile(), []byte(want), 0o644); err != nil {
		return aptDir{}, false, err
	}
	os.Remove(a.stamp())
	return a, true, nil
}

// config renders the file given to apt-get as APT_CONFIG. APT reads it
// first; it points Dir::Etc::parts and Dir::Etc::main into the private
// directory so that nothing of the system's configuration is read after it
// (in particular no APT::Update::Post-Invoke hooks run), except the proxy
// settings passed in.
func (a aptDir) config(proxies []string) string {
	var b strings.Builder
	b.WriteString("// Written by coldstart: private APT configuration for " + a.suite + ".\n")
	fmt.Fprintf(&b, "Dir::Etc::parts %q;\n", filepath.Join(a.dir, "apt.conf.d"))
	fmt.Fprintf(&b, "Dir::Etc::main %q;\n", filepath.Join(a.dir, "apt.conf.d", "none"))
	if len(proxies) > 0 {
		b.WriteString("// Proxy settings copied from the system configuration (apt-config dump):\n")
		for _, p := range proxies {
			b.WriteString(p + "\n")
		}
	}
	return b.String()
}

// systemProxies returns the Acquire::*::Proxy* lines of the system's APT
// configuration, as printed by apt-config dump.
func (f *Fetcher) systemProxies() []string {
	out, err := exec.Command("apt-config", "dump").Output()
	if err != nil {
		return nil
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		for _, proto := range []string{"http", "https", "ftp"} {
			if strings.HasPrefix(l, "Acquire::"+proto+"::Proxy") && strings.HasSuffix(l, ";") {
				lines = append(lines, l)
				break
			}
		}
	}
	return lines
}

// listsAge returns how old the private lists are, or false when they are
// missing.
func (a aptDir) listsAge() (time.Duration, bool) {
	st, err := os.Stat(a.stamp())
	if err != nil {
		return 0, false
	}
	m, _ := filepath.Glob(filepath.Join(a.dir, "lists", "*_dists_"+a.suite+"_*Packages*"))
	if len(m) == 0 {
		return 0, false
	}
	return time.Since(st.ModTime()), true
}

// run runs apt-get with the private options, returning its combined output.
func (f *Fetcher) run(ctx context.Context, a aptDir, cwd string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, orDefault(f.AptGet, "apt-get"), append(a.options(), args...)...)
	cmd.Dir = cwd
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive", "APT_CONFIG="+a.configFile())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (f *Fetcher) update(ctx context.Context, a aptDir, why string) error {
	fmt.Fprintf(f.progress(), "apt-get update for %s from %s (%s)\n", a.suite, a.mirror.URI, why)
	start := time.Now()
	out, err := f.run(ctx, a, a.dir, "update")
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if expired(out) {
		// The suite's Release file is past its Valid-Until date (a mirror
		// that lags, or a frozen one). Its signature still holds, and every
		// package is pinned by SHA-256, so the lists are taken anyway; only
		// "kernels update" could pick an older newest version from them.
		fmt.Fprintf(f.progress(), "warning: the %s Release file on %s is expired (%s); using it anyway: packages are pinned by SHA-256\n",
			a.suite, a.mirror.URI, strings.TrimSpace(grepLine(out, "expired")))
		out, err = f.run(ctx, a, a.dir, "-o", "Acquire::Check-Valid-Until=false", "update")
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	failed := err != nil || updateFailed(out)
	if !failed {
		if err := atomicfile.WriteFile(a.stamp(), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
			return err
		}
		if _, ok := a.listsAge(); !ok {
			failed = true
		}
	}
	if failed {
		if notStarted(err) {
			return fmt.Errorf("%w: cannot run apt-get: %v: install apt or set Fetcher.AptGet", ErrArchiveUnavailable, err)
		}
		os.Remove(a.stamp())
		return fmt.Errorf("%w: apt-get update for suite %s from %s failed (%v):\n%s\ncheck the network or proxy and that the archive still serves %s",
			ErrArchiveUnavailable, a.suite, a.mirror.URI, err, tail(out, 8), a.suite)
	}
	fmt.Fprintf(f.progress(), "apt-get update done in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// expired reports whether apt-get update refused a Release file past its
// Valid-Until date.
func expired(out []byte) bool {
	return bytes.Contains(out, []byte("is expired (invalid since"))
}

func grepLine(out []byte, sub string) string {
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// updateFailed reports whether apt-get update's output shows an index it
// could not fetch (apt may still exit 0 then).
func updateFailed(out []byte) bool {
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Err:") || strings.HasPrefix(l, "E: ") ||
			strings.HasPrefix(l, "W: Failed to fetch") || strings.HasPrefix(l, "W: Some index files failed") {
			return true
		}
	}
	return false
}

// notStarted reports whether a command failed to start at all (as opposed
// to running and exiting non-zero).
func notStarted(err error) bool {
	var ee *exec.ExitError
	return err != nil && !errors.As(err, &ee)
}

func notFound(out []byte) bool {
	for _, s := range []string{"Unable to locate package", "was not found", "Can't find a version", "Couldn't find any package", "has no installation candidate"} {
		if bytes.Contains(out, []byte(s)) {
			return true
		}
	}
	return false
}

// download fetches the pinned .deb into dest and returns its path.
func (f *Fetcher) download(ctx context.Context, cache string, d *Debian, dest string) (string, error) {
	a, changed, err := f.prepareApt(cache, d.Suite)
	if err != nil {
		return "", err
	}
	unlock, err := lockFile(a.dir + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	maxAge := f.MaxListAge
	if maxAge <= 0 {
		maxAge = 24 * time.Hour
	}
	updated := false
	age, ok := a.listsAge()
	switch {
	case changed || !ok:
		err = f.update(ctx, a, "no package lists yet")
		updated = true
	case age > maxAge:
		err = f.update(ctx, a, fmt.Sprintf("package lists are %s old", age.Round(time.Minute)))
		updated = true
	}
	if err != nil {
		return "", err
	}
	spec := d.Package + "=" + d.Version
	var size int64
	if pe, ok := a.lookup(d.Package, d.Version); ok {
		size = pe.Size
	}
	st := f.step("fetching %s from %s (%s)", spec, d.Suite, a.mirror.URI)
	start := time.Now()
	stop := st.watchDir(dest, size)
	out, err := f.run(ctx, a, dest, "download", spec)
	if err != nil && !updated && notFound(out) && ctx.Err() == nil {
		stop()
		if err := f.update(ctx, a, spec+" not in the package lists"); err != nil {
			st.fail()
			return "", err
		}
		stop = st.watchDir(dest, size)
		out, err = f.run(ctx, a, dest, "download", spec)
	}
	stop()
	if ctx.Err() != nil {
		st.fail()
		return "", ctx.Err()
	}
	if err != nil {
		st.fail()
		if notFound(out) {
			return "", f.staleError(a, d, out)
		}
		if notStarted(err) {
			return "", fmt.Errorf("%w: cannot run apt-get: %v: install apt or set Fetcher.AptGet", ErrArchiveUnavailable, err)
		}
		return "", fmt.Errorf("apt-get download %s failed (%v):\n%s", spec, err, tail(out, 8))
	}
	ents, err := os.ReadDir(dest)
	if err != nil {
		return "", err
	}
	var debs []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".deb") {
			debs = append(debs, e.Name())
		}
	}
	if len(debs) != 1 || !strings.HasPrefix(debs[0], d.Package+"_") {
		st.fail()
		return "", fmt.Errorf("apt-get download %s left %v in %s, want exactly one %s_*.deb", spec, debs, dest, d.Package)
	}
	p := filepath.Join(dest, debs[0])
	fi, err := os.Stat(p)
	if err != nil {
		st.fail()
		return "", err
	}
	st.done("%s (%s) in %s", debs[0], mb(fi.Size()), time.Since(start).Round(time.Millisecond))
	return p, nil
}

// maxMember bounds the size of any file taken from a package.
const maxMember = 512 << 20

// extractDeb takes the kernel image and config out of a .deb into dir,
// recording them in m. Only regular files named boot/vmlinuz-<release>,
// boot/config-<release>, usr/lib/modules/<release>/vmlinuz or
// usr/lib/modules/<release>/config are taken, each under a file name this
// package chooses (vmlinuz-<release>, config-<release>) inside dir.
func (f *Fetcher) extractDeb(ctx context.Context, deb, dir string, m *manifest) error {
	cmd := exec.CommandContext(ctx, orDefault(f.DpkgDeb, "dpkg-deb"), "--fsys-tarfile", deb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("dpkg-deb: %w", err)
	}
	err = f.extractTar(stdout, dir, m)
	_, _ = io.Copy(io.Discard, stdout)
	if werr := cmd.Wait(); werr != nil && err == nil {
		err = fmt.Errorf("dpkg-deb --fsys-tarfile: %v: %s", werr, strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		return err
	}
	if m.BzImage == "" {
		return fmt.Errorf("%w: no boot/vmlinuz-* or usr/lib/modules/*/vmlinuz in it; in sid and experimental linux-image-* is a meta package: pin the linux-binary-* package it depends on", ErrNoImageInPackage)
	}
	return nil
}

// extractTar reads a package's data tarball; see extractDeb.
func (f *Fetcher) extractTar(r io.Reader, dir string, m *manifest) error {
	progress := f.progress()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading package data: %w", err)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		kind, release := memberKind(name)
		if kind == "" {
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			// A symlink or hard link here could point anywhere: not followed.
			return fmt.Errorf("package member %s is not a regular file (type %q): refusing it", hdr.Name, hdr.Typeflag)
		}
		if !releaseRE.MatchString(release) {
			return fmt.Errorf("package member %s: release %q has unexpected characters: refusing it", hdr.Name, release)
		}
		if hdr.Size > maxMember {
			return fmt.Errorf("package member %s is %d bytes: too big for a kernel", hdr.Name, hdr.Size)
		}
		out := kind + "-" + release
		if m.Release != "" && m.Release != release {
			return fmt.Errorf("package holds kernels of two releases (%s and %s): not supported", m.Release, release)
		}
		if m.Files[out] != "" {
			return fmt.Errorf("package holds %s twice", out)
		}
		p, err := insideDir(dir, out)
		if err != nil {
			return err
		}
		var sum string
		err = atomicfile.Write(p, 0o644, func(w io.Writer) error {
			var buf bytes.Buffer
			if _, err := io.Copy(&buf, io.LimitReader(tr, maxMember)); err != nil {
				return err
			}
			sum = sha256Bytes(buf.Bytes())
			_, err := w.Write(buf.Bytes())
			return err
		})
		if err != nil {
			return fmt.Errorf("extracting %s: %w", hdr.Name, err)
		}
		m.Release = release
		m.Files[out] = sum
		if kind == "vmlinuz" {
			m.BzImage = out
		} else {
			m.Config = out
		}
		fmt.Fprintf(progress, "extracted %s (%s) sha256 %s\n", out, mb(hdr.Size), sum)
	}
}

// memberKind classifies a package member: "vmlinuz" or "config" with its
// release, or "" for anything this package does not take.
func memberKind(name string) (kind, release string) {
	if path.Clean(name) != name || strings.HasPrefix(name, "/") {
		return "", ""
	}
	dir, base := path.Split(name)
	switch dir {
	case "boot/":
		for _, k := range []string{"vmlinuz", "config"} {
			if r, ok := strings.CutPrefix(base, k+"-"); ok && r != "" {
				return k, r
			}
		}
	default:
		rest, ok := strings.CutPrefix(dir, "usr/lib/modules/")
		if !ok {
			return "", ""
		}
		rel := strings.TrimSuffix(rest, "/")
		if rel == "" || strings.Contains(rel, "/") {
			return "", ""
		}
		if base == "vmlinuz" || base == "config" {
			return base, rel
		}
	}
	return "", ""
}
