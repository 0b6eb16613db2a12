package kernels

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"coldstart/harness/kernels/version"
)

// Sources a kernel file may name in its "source" field.
const (
	SourceDebian = "debian"
	SourceGoMod  = "gomod"
	SourceBuild  = "build"
	SourceFile   = "file"
)

// knownSources lists the accepted values of "source", in the order they are
// shown in error messages.
var knownSources = []string{SourceDebian, SourceGoMod, SourceBuild, SourceFile}

// Kernel is one parsed and validated kernel file.
type Kernel struct {
	Name    string // stable identifier, [a-z0-9._-]+
	Version string // upstream version, used for ordering
	Source  string // one of SourceDebian, SourceGoMod, SourceBuild, SourceFile
	File    string // the .toml it came from ("" if built in code)
	// Default says whether a matrix without --kernels boots it: true
	// unless the file says default = false.
	Default bool
	// Sets names the kernel sets it belongs to: --kernels story boots
	// every kernel whose file says sets = ["story"].
	Sets []string

	Debian *Debian // set when Source == SourceDebian
	GoMod  *GoMod  // set when Source == SourceGoMod
	Build  *Build  // set when Source == SourceBuild
	Local  *Local  // set when Source == SourceFile
}

// Debian pins a linux-image package in a Debian suite.
type Debian struct {
	Suite   string `toml:"suite"`   // e.g. "bookworm-security"
	Package string `toml:"package"` // exact package name, never a pattern
	Version string `toml:"version"` // exact Debian package version
	SHA256  string `toml:"sha256"`  // SHA-256 of the .deb, lowercase hex

	// Config optionally names a second package of the same suite that holds
	// the kernel config: in sid and experimental the image is in
	// linux-binary-* and the config in linux-base-*.
	Config *DebianPackage `toml:"config"`
}

// DebianPackage pins one more package of a Debian kernel's suite.
type DebianPackage struct {
	Package string `toml:"package"` // exact package name
	Version string `toml:"version"` // exact Debian version; default: the image package's
	SHA256  string `toml:"sha256"`  // SHA-256 of the .deb
}

// GoMod pins a kernel image shipped inside a Go module (as gokrazy's are).
type GoMod struct {
	Module  string `toml:"module"`  // module path, e.g. "github.com/gokrazy/kernel.amd64"
	Version string `toml:"version"` // exact (pseudo-)version
	Path    string `toml:"path"`    // the image inside the module; default "vmlinuz"
	SHA256  string `toml:"sha256"`  // SHA-256 of that file
	Sum     string `toml:"sum"`     // optional go.sum hash of the module ("h1:...")
}

// Build describes a kernel built from source with a config fragment. The
// tree is exactly one of: Tree (a directory, built as it is), Tree + Ref (a
// git ref in that tree, exported with git archive) or Debian (a Debian
// linux-source-X.Y package, unpacked into the cache).
type Build struct {
	Tree   string  `toml:"tree"`   // absolute path to a kernel source tree
	Ref    string  `toml:"ref"`    // optional git ref (commit, tag, branch) in Tree
	Debian *Debian `toml:"debian"` // a linux-source-X.Y package
	// Tarball is a kernel.org tarball pinned by SHA-256, tried first in
	// <cache>/mirror.
	Tarball *Tarball `toml:"tarball"`
	// Config is the fragment applied on top of make tinyconfig; a relative
	// path is taken from the kernel file's directory. Default
	// "configs/coldstart.config".
	Config string `toml:"config"`
}

// DefaultFragment is the config fragment a build uses when the kernel file
// names none, relative to the kernel file's directory.
const DefaultFragment = "configs/coldstart.config"

// FragmentPath returns the absolute path of the fragment of a build kernel.
func (k Kernel) FragmentPath() string {
	frag := DefaultFragment
	if k.Build != nil && k.Build.Config != "" {
		frag = k.Build.Config
	}
	if filepath.IsAbs(frag) {
		return frag
	}
	base := "."
	if k.File != "" {
		base = filepath.Dir(k.File)
	}
	p, err := filepath.Abs(filepath.Join(base, frag))
	if err != nil {
		return filepath.Join(base, frag)
	}
	return p
}

// Local names a kernel image already on disk.
type Local struct {
	Path   string `toml:"path"`   // absolute path to a bzImage or ELF vmlinux
	SHA256 string `toml:"sha256"` // optional pin, lowercase hex
}

// kernelFile is the on-disk shape of a kernel file.
type kernelFile struct {
	Name    string   `toml:"name"`
	Version string   `toml:"version"`
	Source  string   `toml:"source"`
	Default *bool    `toml:"default"`
	Sets    []string `toml:"sets"`
	Debian  *Debian  `toml:"debian"`
	GoMod   *GoMod   `toml:"gomod"`
	Build   *Build   `toml:"build"`
	File    *Local   `toml:"file"`
}

var (
	// ErrInvalidKernelFile is wrapped by every error about the content of a
	// kernel file.
	ErrInvalidKernelFile = errors.New("invalid kernel file")
	// ErrUnknownKernel is returned by Lookup for a name no file defines.
	ErrUnknownKernel = errors.New("unknown kernel")
)

var (
	nameRE       = regexp.MustCompile(`^[a-z0-9._-]+$`)
	versionRE    = regexp.MustCompile(`^[0-9][0-9A-Za-z.+~-]*$`)
	suiteRE      = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	debPackageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	debVersionRE = regexp.MustCompile(`^([0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$`)
	sha256RE     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	modulePathRE = regexp.MustCompile(`^[a-z0-9][A-Za-z0-9._~/-]*$`)
	modVersionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+incompatible)?$`)
	h1RE         = regexp.MustCompile(`^h1:[A-Za-z0-9+/]{43}=$`)
	gitRefRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/~^-]*$`)
)

// fileError builds an ErrInvalidKernelFile error naming the file and field.
func fileError(file, field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if field == "" {
		return fmt.Errorf("%s: %w: %s", file, ErrInvalidKernelFile, msg)
	}
	return fmt.Errorf("%s: %w: field %q: %s", file, ErrInvalidKernelFile, field, msg)
}

// LoadFile reads and validates one kernel file.
func LoadFile(path string) (Kernel, error) {
	var raw kernelFile
	md, err := toml.DecodeFile(path, &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return Kernel{}, fileError(path, "", "%s (fix the TOML syntax)", pe.Error())
		}
		if errors.Is(err, os.ErrNotExist) {
			return Kernel{}, fmt.Errorf("%s: %w", path, err)
		}
		return Kernel{}, fileError(path, "", "%v (each field is a string; see kernels/README.md)", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return Kernel{}, fileError(path, keys[0],
			"unknown key (unknown: %s); known keys are name, version, source, default, sets, [debian] suite/package/version/sha256, [debian.config] package/version/sha256, [gomod] module/version/path/sha256/sum, [build] tree/ref/config, [build.tarball] url/sha256, [build.debian] suite/package/version/sha256, [file] path/sha256: remove it or fix its spelling",
			strings.Join(keys, ", "))
	}
	k := Kernel{
		Name:    raw.Name,
		Version: raw.Version,
		Source:  raw.Source,
		File:    path,
		Default: raw.Default == nil || *raw.Default,
		Sets:    raw.Sets,
		Debian:  raw.Debian,
		GoMod:   raw.GoMod,
		Build:   raw.Build,
		Local:   raw.File,
	}
	if err := k.validate(); err != nil {
		return Kernel{}, err
	}
	return k, nil
}

// validate checks every field and normalises hex digests to lowercase.
func (k *Kernel) validate() error {
	f := k.File
	if f == "" {
		f = "kernel " + k.Name
	}
	switch {
	case k.Name == "":
		return fileError(f, "name", "missing: add name = \"<identifier>\" using [a-z0-9._-]")
	case !nameRE.MatchString(k.Name) || k.Name == "." || k.Name == "..":
		return fileError(f, "name", "%q is not a valid name: use only lowercase letters, digits, '.', '_' and '-'", k.Name)
	case k.Version == "":
		return fileError(f, "version", "missing: add version = \"<upstream version>\", e.g. \"6.1.192\"")
	case !versionRE.MatchString(k.Version):
		return fileError(f, "version", "%q is not an upstream version: start with a digit, use digits, letters and . + ~ -", k.Version)
	case k.Source == "":
		return fileError(f, "source", "missing: add source = one of %s", quoteList(knownSources))
	}
	for _, set := range k.Sets {
		if !nameRE.MatchString(set) || set == "all" {
			return fileError(f, "sets", "%q is not a set name: use lowercase letters, digits, '.', '_' and '-' (and not \"all\")", set)
		}
	}
	sections := map[string]bool{
		SourceDebian: k.Debian != nil,
		SourceGoMod:  k.GoMod != nil,
		SourceBuild:  k.Build != nil,
		SourceFile:   k.Local != nil,
	}
	if !contains(knownSources, k.Source) {
		return fileError(f, "source", "%q is not a known source: use one of %s", k.Source, quoteList(knownSources))
	}
	for _, src := range knownSources {
		if sections[src] && src != k.Source {
			return fileError(f, src, "a [%s] section is given but source = %q: remove the section or set source = %q", src, k.Source, src)
		}
	}
	switch k.Source {
	case SourceDebian:
		if k.Debian == nil {
			return fileError(f, "debian", "missing: source = \"debian\" needs a [debian] section with suite, package, version and sha256")
		}
		return validateDebian(f, "debian", k.Debian, true)
	case SourceGoMod:
		return validateGoMod(f, k.GoMod)
	case SourceBuild:
		return validateBuild(f, k.Build)
	case SourceFile:
		l := k.Local
		switch {
		case l == nil:
			return fileError(f, "file", "missing: source = \"file\" needs a [file] section with path (and optionally sha256)")
		case l.Path == "":
			return fileError(f, "file.path", "missing: add path = \"/absolute/path/to/bzImage\"")
		case !filepath.IsAbs(l.Path):
			return fileError(f, "file.path", "%q is not absolute: give an absolute path", l.Path)
		}
		if l.SHA256 != "" {
			l.SHA256 = strings.ToLower(l.SHA256)
			if !sha256RE.MatchString(l.SHA256) {
				return fileError(f, "file.sha256", "%q is not a SHA-256: give 64 hex digits or leave it empty", l.SHA256)
			}
		}
	}
	return nil
}

// validateDebian checks a [debian] (or [build.debian]) section; sec is its
// name in messages. allowConfig permits a [<sec>.config] sub-section.
func validateDebian(f, sec string, d *Debian, allowConfig bool) error {
	switch {
	case d.Suite == "":
		return fileError(f, sec+".suite", "missing: add suite = \"<Debian suite>\", e.g. \"bookworm-security\"")
	case !suiteRE.MatchString(d.Suite):
		return fileError(f, sec+".suite", "%q is not a Debian suite name (e.g. bookworm, bookworm-security, sid)", d.Suite)
	case d.Package == "":
		return fileError(f, sec+".package", "missing: add package = \"<exact package name>\", e.g. \"linux-image-6.1.0-57-cloud-amd64\"")
	case !debPackageRE.MatchString(d.Package):
		return fileError(f, sec+".package", "%q is not an exact Debian package name (no patterns or architecture suffixes)", d.Package)
	case d.Version == "":
		return fileError(f, sec+".version", "missing: add version = \"<exact Debian version>\" as shown by apt-cache policy")
	case !debVersionRE.MatchString(d.Version):
		return fileError(f, sec+".version", "%q is not a Debian package version", d.Version)
	case d.SHA256 == "":
		return fileError(f, sec+".sha256", "missing: add sha256 = \"<64 hex digits>\", the SHA-256 of the .deb (the SHA256 line of apt-cache show %s=%s, checked with sha256sum after apt-get download)", d.Package, d.Version)
	}
	d.SHA256 = strings.ToLower(d.SHA256)
	if !sha256RE.MatchString(d.SHA256) {
		return fileError(f, sec+".sha256", "%q is not a SHA-256: give 64 hex digits", d.SHA256)
	}
	c := d.Config
	if c == nil {
		return nil
	}
	if !allowConfig {
		return fileError(f, sec+".config", "not allowed here: only a [debian] kernel image may name a config package")
	}
	if c.Version == "" {
		c.Version = d.Version
	}
	c.SHA256 = strings.ToLower(c.SHA256)
	switch {
	case c.Package == "":
		return fileError(f, sec+".config.package", "missing: add package = \"<exact package name>\", e.g. \"linux-base-7.2.13+deb14-cloud-amd64\"")
	case !debPackageRE.MatchString(c.Package):
		return fileError(f, sec+".config.package", "%q is not an exact Debian package name", c.Package)
	case !debVersionRE.MatchString(c.Version):
		return fileError(f, sec+".config.version", "%q is not a Debian package version", c.Version)
	case !sha256RE.MatchString(c.SHA256):
		return fileError(f, sec+".config.sha256", "%q is not a SHA-256: give the 64 hex digits of the .deb", c.SHA256)
	}
	return nil
}

func validateGoMod(f string, g *GoMod) error {
	if g == nil {
		return fileError(f, "gomod", "missing: source = \"gomod\" needs a [gomod] section with module, version and sha256")
	}
	if g.Path == "" {
		g.Path = "vmlinuz"
	}
	g.SHA256 = strings.ToLower(g.SHA256)
	switch {
	case g.Module == "":
		return fileError(f, "gomod.module", "missing: add module = \"<module path>\", e.g. \"github.com/gokrazy/kernel.amd64\"")
	case !modulePathRE.MatchString(g.Module) || strings.Contains(g.Module, ".."):
		return fileError(f, "gomod.module", "%q is not a Go module path", g.Module)
	case g.Version == "":
		return fileError(f, "gomod.version", "missing: add version = \"<exact version>\", e.g. \"v0.0.0-20260705070735-de680abf072b\" (never a query such as latest)")
	case !modVersionRE.MatchString(g.Version):
		return fileError(f, "gomod.version", "%q is not an exact module version (vX.Y.Z or a pseudo-version; queries such as latest are not pins)", g.Version)
	case path.IsAbs(g.Path) || path.Clean(g.Path) != g.Path || strings.HasPrefix(g.Path, "../") || g.Path == "..":
		return fileError(f, "gomod.path", "%q is not a clean relative path inside the module", g.Path)
	case g.SHA256 == "":
		return fileError(f, "gomod.sha256", "missing: add sha256 = \"<64 hex digits>\", the SHA-256 of %s inside the module (sha256sum it after go mod download -json %s@%s)", g.Path, g.Module, g.Version)
	case !sha256RE.MatchString(g.SHA256):
		return fileError(f, "gomod.sha256", "%q is not a SHA-256: give 64 hex digits", g.SHA256)
	case g.Sum != "" && !h1RE.MatchString(g.Sum):
		return fileError(f, "gomod.sum", "%q is not a go.sum hash: give \"h1:<base64>=\" (the Sum of go mod download -json) or leave it out", g.Sum)
	}
	return nil
}

func validateBuild(f string, b *Build) error {
	if b == nil {
		return fileError(f, "build", "missing: source = \"build\" needs a [build] section with tree (and optionally ref) or a [build.debian] section naming a linux-source package")
	}
	switch {
	case b.Tree == "" && b.Debian == nil && b.Tarball == nil:
		return fileError(f, "build", "no source tree: set tree = \"/abs/path/to/linux\", or add a [build.tarball] section (url, sha256) or a [build.debian] section naming a linux-source-X.Y package")
	case b.Tree != "" && b.Debian != nil, b.Tree != "" && b.Tarball != nil, b.Debian != nil && b.Tarball != nil:
		return fileError(f, "build.tree", "more than one of tree, [build.tarball] and [build.debian] is given: keep one")
	case b.Tree != "" && !filepath.IsAbs(b.Tree):
		return fileError(f, "build.tree", "%q is not absolute: give an absolute path", b.Tree)
	case b.Ref != "" && b.Tree == "":
		return fileError(f, "build.ref", "a git ref needs tree = the git repository it lives in")
	case b.Ref != "" && (!gitRefRE.MatchString(b.Ref) || strings.Contains(b.Ref, "..")):
		return fileError(f, "build.ref", "%q is not a git ref (a commit, tag or branch name)", b.Ref)
	}
	if b.Tarball != nil {
		if err := validateTarball(f, b.Tarball); err != nil {
			return err
		}
	}
	if b.Debian != nil {
		if err := validateDebian(f, "build.debian", b.Debian, false); err != nil {
			return err
		}
		if !strings.HasPrefix(b.Debian.Package, "linux-source-") {
			return fileError(f, "build.debian.package", "%q is not a Debian kernel source package: use linux-source-X.Y (e.g. linux-source-6.1)", b.Debian.Package)
		}
	}
	return nil
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// Load reads every *.toml file in dir, sorted by version, then name. Two
// files defining the same name are an error.
func Load(dir string) ([]Kernel, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.toml"))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("kernel directory: %w", err)
	}
	var ks []Kernel
	seen := map[string]string{}
	var errs []error
	for _, p := range paths {
		k, err := LoadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, ok := seen[k.Name]; ok {
			errs = append(errs, fileError(p, "name", "%q is already defined in %s: names must be unique, rename one", k.Name, prev))
			continue
		}
		seen[k.Name] = p
		ks = append(ks, k)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.SliceStable(ks, func(i, j int) bool {
		if c := version.Compare(ks[i].Version, ks[j].Version); c != 0 {
			return c < 0
		}
		return ks[i].Name < ks[j].Name
	})
	return ks, nil
}

// Lookup returns the kernel called name.
func Lookup(ks []Kernel, name string) (Kernel, error) {
	names := make([]string, 0, len(ks))
	for _, k := range ks {
		if k.Name == name {
			return k, nil
		}
		names = append(names, k.Name)
	}
	if len(names) == 0 {
		return Kernel{}, fmt.Errorf("%w %q: no kernel files are loaded (add one to kernels/, see kernels/README.md)", ErrUnknownKernel, name)
	}
	return Kernel{}, fmt.Errorf("%w %q: known kernels are %s", ErrUnknownKernel, name, strings.Join(names, ", "))
}

// LookupAll returns the kernel called name or, when no kernel has that
// name, every kernel of the set called name (see Kernel.Sets), in Load's
// order.
func LookupAll(ks []Kernel, name string) ([]Kernel, error) {
	for _, k := range ks {
		if k.Name == name {
			return []Kernel{k}, nil
		}
	}
	var out []Kernel
	sets := map[string]bool{}
	for _, k := range ks {
		for _, s := range k.Sets {
			sets[s] = true
			if s == name {
				out = append(out, k)
			}
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	_, err := Lookup(ks, name)
	if len(sets) > 0 {
		names := make([]string, 0, len(sets))
		for s := range sets {
			names = append(names, s)
		}
		sort.Strings(names)
		err = fmt.Errorf("%w; known sets are %s", err, strings.Join(names, ", "))
	}
	return nil, err
}
