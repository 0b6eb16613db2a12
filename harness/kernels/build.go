package kernels

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"coldstart/internal/atomicfile"
)

// ErrFragment is wrapped by a *FragmentError: options of a config fragment
// did not survive make olddefconfig.
var ErrFragment = errors.New("config fragment not applied")

// ErrBuildFailed means a kernel build step (make) failed; the error names
// the log.
var ErrBuildFailed = errors.New("kernel build failed")

// FragmentOption is one line of a config fragment.
type FragmentOption struct {
	Name     string // "CONFIG_SMP"
	Value    string // "y", "m", a number or string; "n" for "# CONFIG_X is not set"
	Optional bool   // marked "# optional": may be missing (e.g. absent on 4.x)
	Line     int
}

// Fragment is a parsed config fragment.
type Fragment struct {
	Path    string
	Options []FragmentOption
}

var (
	fragSetRE   = regexp.MustCompile(`^(CONFIG_[A-Za-z0-9_]+)=(\S+|"[^"]*")\s*(#.*)?$`)
	fragUnsetRE = regexp.MustCompile(`^# (CONFIG_[A-Za-z0-9_]+) is not set\s*(#.*)?$`)
)

// ParseFragment reads a config fragment: lines "CONFIG_X=value" and
// "# CONFIG_X is not set", each optionally followed by a comment; a comment
// starting with "# optional" marks the option as allowed to be missing
// after olddefconfig (an option the tree does not have, as on 4.x kernels).
// Other comment lines and blank lines are ignored.
func ParseFragment(path string) (*Fragment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config fragment: %w", err)
	}
	fr := &Fragment{Path: path}
	seen := map[string]int{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		var o FragmentOption
		var comment string
		if m := fragSetRE.FindStringSubmatch(line); m != nil {
			o = FragmentOption{Name: m[1], Value: strings.Trim(m[2], `"`), Line: i + 1}
			comment = m[3]
		} else if m := fragUnsetRE.FindStringSubmatch(line); m != nil {
			o = FragmentOption{Name: m[1], Value: "n", Line: i + 1}
			comment = m[2]
		} else if line == "" || strings.HasPrefix(line, "#") {
			continue
		} else {
			return nil, fmt.Errorf("%s:%d: %q is not CONFIG_X=value or \"# CONFIG_X is not set\"", path, i+1, line)
		}
		o.Optional = strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(comment, "#")), "optional")
		if prev, ok := seen[o.Name]; ok {
			return nil, fmt.Errorf("%s:%d: %s is already set on line %d", path, i+1, o.Name, prev)
		}
		seen[o.Name] = i + 1
		fr.Options = append(fr.Options, o)
	}
	if len(fr.Options) == 0 {
		return nil, fmt.Errorf("%s: no options", path)
	}
	return fr, nil
}

// kconfigLines renders the fragment as .config lines, without comments.
func (fr *Fragment) kconfigLines() string {
	var b strings.Builder
	b.WriteString("\n# coldstart fragment " + filepath.Base(fr.Path) + "\n")
	for _, o := range fr.Options {
		switch {
		case o.Value == "n":
			fmt.Fprintf(&b, "# %s is not set\n", o.Name)
		case needsQuotes(o.Value):
			fmt.Fprintf(&b, "%s=%q\n", o.Name, o.Value)
		default:
			fmt.Fprintf(&b, "%s=%s\n", o.Name, o.Value)
		}
	}
	return b.String()
}

func needsQuotes(v string) bool {
	if v == "y" || v == "m" {
		return false
	}
	if _, err := fmt.Sscanf(v, "%d", new(int)); err == nil && !strings.ContainsAny(v, " ") {
		return false
	}
	return !strings.HasPrefix(v, "0x")
}

// FragmentError lists the options of a fragment that the final config does
// not have as asked.
type FragmentError struct {
	Fragment string
	Config   string           // the resulting .config
	Missing  []FragmentOption // required options that did not survive
	Got      map[string]string
}

func (e *FragmentError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %d option(s) of %s did not survive make olddefconfig (their dependencies are off, or the tree does not have them):", ErrFragment, len(e.Missing), e.Fragment)
	for _, o := range e.Missing {
		got := e.Got[o.Name]
		if got == "" {
			got = "not set"
		}
		fmt.Fprintf(&b, "\n  %s=%s (line %d): got %s", o.Name, o.Value, o.Line, got)
	}
	fmt.Fprintf(&b, "\nenable what they depend on in the fragment (make O=... menuconfig, then search with /), or mark an option the tree lacks with \"# optional\"; the config is %s", e.Config)
	return b.String()
}

func (e *FragmentError) Unwrap() error { return ErrFragment }

// CheckFragment compares a resulting config with the fragment. It returns a
// *FragmentError for required options that are not as asked, and the
// optional ones that are not, for a warning.
func CheckFragment(fr *Fragment, cfg Config, cfgPath string) (optionalMissing []FragmentOption, err error) {
	var missing []FragmentOption
	for _, o := range fr.Options {
		got, ok := cfg[o.Name]
		var good bool
		if o.Value == "n" {
			good = !ok || got == "n"
		} else {
			good = got == o.Value
		}
		if good {
			continue
		}
		if o.Optional {
			optionalMissing = append(optionalMissing, o)
		} else {
			missing = append(missing, o)
		}
	}
	if len(missing) > 0 {
		return optionalMissing, &FragmentError{Fragment: fr.Path, Config: cfgPath, Missing: missing, Got: cfg}
	}
	return optionalMissing, nil
}

// BuildSpec says what to build.
type BuildSpec struct {
	Name     string // cache entry name
	Tree     string // kernel source tree
	TreeID   string // identity of the tree's content ("deb:<sha256>", "git:<commit>"); "" for a working directory, rebuilt incrementally on every use
	Fragment string // path of the config fragment
}

// buildKey identifies a build directory: the tree and the fragment.
func buildKey(spec BuildSpec, frag []byte, toolchain string) string {
	h := sha256.New()
	id := spec.TreeID
	if id == "" {
		id = "dir:" + spec.Tree
	}
	fmt.Fprintf(h, "coldstart-build-1\x00%s\x00", id)
	h.Write(frag)
	if toolchain != "" {
		fmt.Fprintf(h, "\x00toolchain\x00%s", toolchain)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// buildPlan is where and how a BuildSpec is built.
type buildPlan struct {
	spec  BuildSpec
	frag  *Fragment
	key   string
	name  string // <name>-<key>
	out   string // build directory
	entry string // cache entry directory
	tc    ToolchainPlan
	use   *toolchainUse // set once the toolchain is prepared
}

func (f *Fetcher) plan(spec BuildSpec) (*buildPlan, error) {
	cache, err := f.cacheDir()
	if err != nil {
		return nil, err
	}
	tree, err := filepath.Abs(spec.Tree)
	if err != nil {
		return nil, err
	}
	spec.Tree = tree
	if _, err := os.Stat(filepath.Join(tree, "Makefile")); err != nil {
		return nil, fmt.Errorf("%s is not a kernel source tree (no Makefile): %w", tree, err)
	}
	if _, err := os.Stat(filepath.Join(tree, ".config")); err == nil {
		return nil, fmt.Errorf("%s has a .config: it was configured in-tree, and out-of-tree builds refuse such a tree: run make mrproper in it (or build from a git ref)", tree)
	}
	fr, err := ParseFragment(spec.Fragment)
	if err != nil {
		return nil, err
	}
	fragData, err := os.ReadFile(spec.Fragment)
	if err != nil {
		return nil, err
	}
	if err := allow(spec.Name, f.Make, "build"); err != nil {
		return nil, err
	}
	facts, err := ProbeTree(tree)
	if err != nil {
		return nil, err
	}
	tc := ChooseToolchain(facts, hostGCCMajor())
	p := &buildPlan{spec: spec, frag: fr, tc: tc, key: buildKey(spec, fragData, tc.key())}
	p.name = spec.Name + "-" + p.key
	p.out = filepath.Join(cache, "build", p.name)
	p.entry = filepath.Join(cache, "kernels", p.name)
	return p, nil
}

// Configure does the configuration half of Build: make tinyconfig, the
// fragment appended, make olddefconfig, CheckFragment. It returns the path
// of the resulting .config and the optional options that did not survive; a
// required option that did not survive gives a *FragmentError. It takes
// about a minute, so it is the quick way to see whether a fragment suits a
// tree (a 4.x one, say) before a build.
func (f *Fetcher) Configure(ctx context.Context, spec BuildSpec) (string, []FragmentOption, error) {
	p, err := f.plan(spec)
	if err != nil {
		return "", nil, err
	}
	unlock, err := lockFile(p.out + ".lock")
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	return f.configure(ctx, p)
}

func (f *Fetcher) configure(ctx context.Context, p *buildPlan) (string, []FragmentOption, error) {
	progress := f.progress()
	logs := filepath.Join(p.out, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return "", nil, err
	}
	// Which toolchain and flags, and why: on the progress writer and in
	// logs/toolchain.txt beside the make logs.
	fmt.Fprint(progress, p.tc)
	if err := atomicfile.WriteFile(filepath.Join(logs, "toolchain.txt"), []byte(p.tc.String()), 0o644); err != nil {
		return "", nil, err
	}
	if p.use == nil {
		cache, err := f.cacheDir()
		if err != nil {
			return "", nil, err
		}
		if p.use, err = f.prepareToolchain(ctx, cache, p.out, p.tc); err != nil {
			return "", nil, fmt.Errorf("toolchain for %s: %w", p.tc.Facts.Version, err)
		}
	}
	mk := func(step string) error {
		return f.make(ctx, p.spec.Tree, p.out, filepath.Join(logs, step+".log"), p.use, step, step)
	}
	if err := mk("tinyconfig"); err != nil {
		return "", nil, err
	}
	cfgPath := filepath.Join(p.out, ".config")
	cf, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return "", nil, fmt.Errorf("make tinyconfig left no %s: %w", cfgPath, err)
	}
	_, err = io.WriteString(cf, p.frag.kconfigLines()+p.use.configLines())
	if cerr := cf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", nil, err
	}
	if err := mk("olddefconfig"); err != nil {
		return "", nil, err
	}
	cfg, err := ReadConfig(cfgPath)
	if err != nil {
		return "", nil, err
	}
	opt, err := CheckFragment(p.frag, cfg, cfgPath)
	if err != nil {
		return "", nil, err
	}
	for _, fl := range p.tc.Flags {
		if fl.Kind == "config-off" && cfg.Enabled(strings.TrimPrefix(fl.Value, "CONFIG_")) {
			return "", nil, fmt.Errorf("%w: %s is still set after olddefconfig, but must be off on this tree (%s); the config is %s", ErrFragment, fl.Value, fl.Why, cfgPath)
		}
	}
	for _, o := range opt {
		fmt.Fprintf(progress, "config: optional %s=%s not in the result (this tree lacks it or its dependencies)\n", o.Name, o.Value)
	}
	fmt.Fprintf(progress, "config: all %d required options of %s survived olddefconfig\n", len(p.frag.Options)-countOptional(p.frag), filepath.Base(p.spec.Fragment))
	return cfgPath, opt, nil
}

func countOptional(fr *Fragment) int {
	n := 0
	for _, o := range fr.Options {
		if o.Optional {
			n++
		}
	}
	return n
}

// Build configures (see Configure) and builds a kernel out of tree with make
// bzImage. The build directory is <cache>/build/<name>-<key>, keyed by tree
// and fragment, and keeps the logs (logs/<step>.log). ccache is used when
// installed. A build whose TreeID is set is cached like a fetched kernel; a
// working directory (TreeID "") is rebuilt, incrementally, on every use.
func (f *Fetcher) Build(ctx context.Context, spec BuildSpec) (*Image, error) {
	p, err := f.plan(spec)
	if err != nil {
		return nil, err
	}
	progress := f.progress()
	spec, key, out, entry := p.spec, p.key, p.out, p.entry
	tree := spec.Tree
	unlock, err := lockFile(out + ".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if spec.TreeID != "" {
		if im, ok := f.cached(entry, func(m *manifest) bool {
			return m.Source == SourceBuild && m.BuildKey == key && m.Name == spec.Name
		}); ok {
			return im, nil
		}
	}
	fmt.Fprintf(progress, "building %s from %s with %s in %s\n", spec.Name, tree, spec.Fragment, out)
	start := time.Now()
	cfgPath, _, err := f.configure(ctx, p)
	if err != nil {
		return nil, err
	}
	logs := filepath.Join(out, "logs")
	if err := f.make(ctx, tree, out, filepath.Join(logs, "bzImage.log"), p.use, "bzImage", "bzImage"); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "built %s in %s with %s (logs in %s)\n", spec.Name, time.Since(start).Round(time.Second), p.tc.Toolchain, logs)

	bzPath := filepath.Join(out, "arch", "x86", "boot", "bzImage")
	bz, err := os.ReadFile(bzPath)
	if err != nil {
		return nil, fmt.Errorf("make bzImage left no %s: %w", bzPath, err)
	}
	h, err := ParseBzImage(bz)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bzPath, err)
	}
	if err := os.RemoveAll(entry); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(entry, 0o755); err != nil {
		return nil, err
	}
	release := h.Release()
	if !releaseRE.MatchString(release) {
		release = "unknown"
	}
	m := &manifest{
		Name:       spec.Name,
		Source:     SourceBuild,
		SourcePath: tree,
		BuildKey:   key,
		BuildDir:   out,
		Release:    release,
		ConfigFrom: "build",
		Files:      map[string]string{},
	}
	m.BzImage = "vmlinuz-" + release
	if err := atomicfile.WriteFile(filepath.Join(entry, m.BzImage), bz, 0o644); err != nil {
		return nil, err
	}
	m.Files[m.BzImage] = sha256Bytes(bz)
	m.SourceSHA = m.Files[m.BzImage]
	cfgData, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, err
	}
	m.Config = "config-" + release
	if err := atomicfile.WriteFile(filepath.Join(entry, m.Config), cfgData, 0o644); err != nil {
		return nil, err
	}
	m.Files[m.Config] = sha256Bytes(cfgData)
	if err := deriveVmlinux(progress, entry, bz, m); err != nil {
		return nil, err
	}
	if err := writeManifest(entry, m); err != nil {
		return nil, err
	}
	return imageFromManifest(entry, m), nil
}

// make runs make -C tree O=out targets, with its output in log.
func (f *Fetcher) make(ctx context.Context, tree, out, log string, tc *toolchainUse, step string, targets ...string) error {
	jobs := f.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	args := []string{"-C", tree, "O=" + out, fmt.Sprintf("-j%d", jobs)}
	env := append(os.Environ(), "LC_ALL=C", "KBUILD_BUILD_USER=coldstart", "KBUILD_BUILD_HOST=coldstart")
	cc, hostcc := "gcc", "gcc"
	if tc != nil && tc.ccPath != "" {
		cc = tc.ccPath
	}
	if tc != nil && tc.hostcc != "" {
		hostcc = tc.hostcc
	}
	if ccache, err := exec.LookPath("ccache"); err == nil && f.Make == "" {
		cc, hostcc = ccache+" "+cc, ccache+" "+hostcc
		if cache, err := f.cacheDir(); err == nil && os.Getenv("CCACHE_DIR") == "" {
			env = append(env, "CCACHE_DIR="+filepath.Join(cache, "ccache"))
		}
	}
	if cc != "gcc" {
		args = append(args, "CC="+cc)
	}
	if hostcc != "gcc" {
		args = append(args, "HOSTCC="+hostcc)
	}
	if tc != nil {
		args = append(args, tc.makeVars...)
	}
	args = append(args, targets...)
	lf, err := os.Create(log)
	if err != nil {
		return err
	}
	defer lf.Close()
	fmt.Fprintf(lf, "# %s %s\n", orDefault(f.Make, "make"), strings.Join(args, " "))
	st := f.step("make %s", step)
	start := time.Now()
	var last lastLineWriter
	cmd := exec.CommandContext(ctx, orDefault(f.Make, "make"), args...)
	cmd.Env = env
	cmd.Stdout = io.MultiWriter(lf, &last)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		st.fail()
		return fmt.Errorf("%w: cannot run make: %v: install build-essential, flex, bison, bc, libelf-dev, libssl-dev", ErrBuildFailed, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if ctx.Err() != nil {
				st.fail()
				return ctx.Err()
			}
			if err != nil {
				st.fail()
				data, _ := os.ReadFile(log)
				return fmt.Errorf("%w: make %s in %s: %v; last lines of %s:\n%s", ErrBuildFailed, step, out, err, log, tail(data, 15))
			}
			_, n := last.status()
			st.done("%s, %d lines in %s", time.Since(start).Round(time.Second), n, log)
			return nil
		case <-tick.C:
			l, n := last.status()
			st.update(fmt.Sprintf("%s, %d lines: %s", time.Since(start).Round(time.Second), n, l))
		}
	}
}

// fetchBuild prepares the source tree of a "build" kernel and builds it.
func (f *Fetcher) fetchBuild(ctx context.Context, k Kernel) (*Image, error) {
	b := k.Build
	cache, err := f.cacheDir()
	if err != nil {
		return nil, err
	}
	spec := BuildSpec{Name: k.Name, Tree: b.Tree, Fragment: k.FragmentPath()}
	switch {
	case b.Debian != nil:
		spec.Tree, err = f.debianSourceTree(ctx, k, cache)
		spec.TreeID = "deb:" + b.Debian.SHA256
	case b.Tarball != nil:
		spec.Tree, err = f.tarballTree(ctx, k, cache)
		if b.Tarball.SHA256 != "" {
			spec.TreeID = "tar:" + b.Tarball.SHA256
		}
	case b.Ref != "":
		spec.Tree, spec.TreeID, err = f.gitTree(ctx, cache, b.Tree, b.Ref)
	}
	if err != nil {
		return nil, fmt.Errorf("kernel %s%s: %w", k.Name, inFile(k.File), err)
	}
	im, err := f.Build(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("kernel %s%s: %w", k.Name, inFile(k.File), err)
	}
	return im, nil
}

// debianSourceTree downloads a linux-source-X.Y package and unpacks its
// tarball into <cache>/src/<package>_<version>-<sha256[:12]>/ (never
// installing it), returning the tree.
func (f *Fetcher) debianSourceTree(ctx context.Context, k Kernel, cache string) (string, error) {
	d := k.Build.Debian
	dir := filepath.Join(cache, "src", d.Package+"_"+d.Version+"-"+d.SHA256[:12])
	unlock, err := lockFile(dir + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if tree, err := os.ReadFile(filepath.Join(dir, ".coldstart-tree")); err == nil {
		return filepath.Join(dir, strings.TrimSpace(string(tree))), nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".unpack-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	deb, err := f.fetchDeb(ctx, k, cache, d, "build.debian.sha256", tmp)
	if err != nil {
		return "", err
	}
	root := filepath.Join(tmp, "root")
	st := f.step("unpacking %s", filepath.Base(deb))
	if out, err := exec.CommandContext(ctx, orDefault(f.DpkgDeb, "dpkg-deb"), "-x", deb, root).CombinedOutput(); err != nil {
		st.fail()
		return "", fmt.Errorf("dpkg-deb -x %s: %v: %s", deb, err, out)
	}
	os.Remove(deb)
	tars, _ := filepath.Glob(filepath.Join(root, "usr", "src", "linux-source-*.tar.*"))
	if len(tars) != 1 {
		st.fail()
		return "", fmt.Errorf("%s holds %d usr/src/linux-source-*.tar.* files, want 1", d.Package, len(tars))
	}
	src := filepath.Join(tmp, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "tar", "-xf", tars[0], "-C", src, "--no-same-owner")
	if out, err := cmd.CombinedOutput(); err != nil {
		st.fail()
		return "", fmt.Errorf("tar -xf %s: %v: %s", tars[0], err, out)
	}
	ents, err := os.ReadDir(src)
	if err != nil || len(ents) != 1 || !ents[0].IsDir() {
		st.fail()
		return "", fmt.Errorf("%s: the tarball does not hold exactly one directory", tars[0])
	}
	treeName := ents[0].Name()
	if err := os.WriteFile(filepath.Join(src, ".coldstart-tree"), []byte(treeName+"\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(src, dir); err != nil {
		return "", err
	}
	st.done("%s", filepath.Join(dir, treeName))
	return filepath.Join(dir, treeName), nil
}

// gitTree exports ref of the git repository repo into
// <cache>/src/git-<commit[:12]>/ with git archive (the repository is not
// modified), returning the tree and its identity.
func (f *Fetcher) gitTree(ctx context.Context, cache, repo, ref string) (string, string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", repo, "rev-parse", "--verify", "--end-of-options", ref+"^{commit}").Output()
	if err != nil {
		return "", "", fmt.Errorf("git ref %q in %s: %w (is it a commit, tag or branch of that repository?)", ref, repo, err)
	}
	commit := strings.TrimSpace(string(out))
	dir := filepath.Join(cache, "src", "git-"+commit[:12])
	unlock, err := lockFile(dir + ".lock")
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, ".coldstart-commit")); err == nil {
		return dir, "git:" + commit, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".git-export-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp)
	st := f.step("git archive %s (%s) of %s", ref, commit[:12], repo)
	var stderr bytes.Buffer
	archive := exec.CommandContext(ctx, "git", "-C", repo, "archive", "--format=tar", commit)
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", tmp)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return "", "", err
	}
	archive.Stderr = &stderr
	untar.Stdin = bufio.NewReaderSize(pipe, 1<<20)
	untar.Stderr = &stderr
	if err := archive.Start(); err != nil {
		return "", "", err
	}
	if err := untar.Run(); err != nil {
		_ = archive.Wait()
		st.fail()
		return "", "", fmt.Errorf("git archive %s | tar -x: %v: %s", commit, err, stderr.String())
	}
	if err := archive.Wait(); err != nil {
		st.fail()
		return "", "", fmt.Errorf("git archive %s: %v: %s", commit, err, stderr.String())
	}
	if err := os.WriteFile(filepath.Join(tmp, ".coldstart-commit"), []byte(commit+"\n"), 0o644); err != nil {
		return "", "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", "", err
	}
	st.done("%s", dir)
	return dir, "git:" + commit, nil
}
