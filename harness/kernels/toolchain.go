package kernels

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"coldstart/harness/kernels/version"
	"coldstart/internal/atomicfile"
)

// ToolPackage pins one Debian package of a toolchain, as a kernel file pins
// its .deb: exact name, version and the SHA-256 from the suite's signed
// index.
type ToolPackage struct {
	Package, Version, SHA256 string
}

// Toolchain is a compiler and binutils taken from a Debian suite, unpacked
// with dpkg -x into <cache>/toolchains/<ID>/, never installed. The zero
// Suite means the system's own gcc and binutils.
type Toolchain struct {
	ID       string // directory name in the cache: "gcc-10-binutils-2.35.2-bullseye"
	Suite    string // the Debian suite the packages come from; "" = the system's tools
	GCC      string // the compiler in the packages: usr/bin/x86_64-linux-gnu-<GCC>
	Binutils string // binutils version the packages carry, for messages
	Packages []ToolPackage
}

// System reports whether t is the system's own toolchain.
func (t Toolchain) System() bool { return t.Suite == "" }

func (t Toolchain) String() string {
	if t.System() {
		return "the system's gcc and binutils"
	}
	return fmt.Sprintf("%s and binutils %s from %s", t.GCC, t.Binutils, t.Suite)
}

// Pinned from the bullseye lists the mirror in this machine's APT sources
// served on 2026-12-04 (the private APT state of harness/kernels, as for
// kernels). bullseye is closed: these versions no longer change.
var (
	bullseyeBinutils = []ToolPackage{
		{"binutils-x86-64-linux-gnu", "2.35.2-2", "b71ad0ec4328fd5da01fbd060714dafb1471d68dbfd2f897ad890b2ecf50b204"},
		{"libbinutils", "2.35.2-2", "3f7c5bdaeab9446c8e3e282a61e160a78c426b69c5203f2d8a19037c5bf3b4eb"},
		{"libctf0", "2.35.2-2", "192c1631903259e6770b2f09dcab982f55497b770fe76d6c4febadfbb0be1318"},
		{"libctf-nobfd0", "2.35.2-2", "74bbaddb02d19e6ccb331819087aa02e94ded72e93294c51e3ba3c29dbcd9a2b"},
	}
	toolchainGCC9 = Toolchain{ID: "gcc-9-binutils-2.35.2-bullseye", Suite: "bullseye", GCC: "gcc-9", Binutils: "2.35.2",
		Packages: append([]ToolPackage{
			{"gcc-9", "9.3.0-22", "499bfe9a9e1f4f266c27547adc445bf37717b731ed7e57921c138a0db15577ad"},
			{"cpp-9", "9.3.0-22", "ff358a68bf34974c785ff61c07f55f3a23a0d400eafa0543cd8a2b763b251c38"},
			{"gcc-9-base", "9.3.0-22", "5a5e0a896ead8fa3db122953061171d4e717349e8f3d50466729d9916fdc09a5"},
			{"libgcc-9-dev", "9.3.0-22", "b81762ef510454aae9f7ce1a79bce0f40300262b142295632228c23588adf748"},
		}, bullseyeBinutils...)}
	toolchainGCC10 = Toolchain{ID: "gcc-10-binutils-2.35.2-bullseye", Suite: "bullseye", GCC: "gcc-10", Binutils: "2.35.2",
		Packages: append([]ToolPackage{
			{"gcc-10", "10.2.1-6", "07af57b8d276f330830cf67ef144e461817e0ad99ac12c1e9e7e6b6882a4b42a"},
			{"cpp-10", "10.2.1-6", "ed2018b8c7ab7006826ccfcc6d306c3a5e1c6dc12595022e4e02913302fdc10e"},
			{"gcc-10-base", "10.2.1-6", "be65535e94f95fbf04b104e8ab36790476f063374430f7dfc6c516cbe2d2cd1e"},
			{"libgcc-10-dev", "10.2.1-6", "3b711374092b84e732c4e73cf33e02cff02e34a5f105eb6467de8d9038e4cd9d"},
		}, bullseyeBinutils...)}
)

// toolchainRow maps a range of kernel versions [From, Before) to a
// toolchain; "" is unbounded.
type toolchainRow struct {
	From, Before string
	Toolchain    Toolchain
	Why          string
}

// toolchainTable is the compiler of each era. bullseye's gcc-9 is the
// oldest gcc any reachable suite serves; binutils 2.36 and later stop
// emitting the section symbols that objtool before 5.10 needs ("Cannot
// find symbol for section .text.unlikely", "missing symbol table"), so
// every tree before 5.10 gets bullseye's binutils 2.35.2.
var toolchainTable = []toolchainRow{
	{"", "4.19", toolchainGCC9, "the oldest gcc served (bullseye's gcc-9); binutils 2.35.2 for objtool of this era"},
	{"4.19", "5.10", toolchainGCC10, "gcc 10 built 4.19 to 5.9 in their time (Debian bullseye); binutils 2.35.2 for objtool before 5.10"},
	{"5.10", "", Toolchain{}, "5.10 and later build with Debian 12's gcc 12 and binutils 2.40"},
}

// TreeFacts are what a toolchain choice reads from a source tree beside
// its version.
type TreeFacts struct {
	Version string // "4.19.325", from the top Makefile
	FnoPIE  bool   // the top Makefile passes -fno-PIE (added in 4.9)
	PLT32   bool   // arch/x86/tools/relocs.c knows R_X86_64_PLT32 (4.16, backported to 4.9.y and 4.14.y)
}

// Flag is one per-era adjustment of a build, with its reason.
type Flag struct {
	Kind  string // "cc" (every compiler call), "hostcflags" (host programs), "config-off" (a Kconfig option forced off)
	Value string // "-fno-PIE", "-Wno-use-after-free", "CONFIG_RELOCATABLE"
	Why   string
}

func (fl Flag) String() string {
	switch fl.Kind {
	case "config-off":
		return fmt.Sprintf("# %s is not set: %s", fl.Value, fl.Why)
	case "hostcflags":
		return fmt.Sprintf("host compiler %s: %s", fl.Value, fl.Why)
	}
	return fmt.Sprintf("compiler %s: %s", fl.Value, fl.Why)
}

// ToolchainPlan is the toolchain and flags chosen for one tree.
type ToolchainPlan struct {
	Facts     TreeFacts
	Toolchain Toolchain
	Why       string
	Flags     []Flag
}

func (p ToolchainPlan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "toolchain for %s: %s (%s)\n", p.Facts.Version, p.Toolchain, p.Why)
	for _, fl := range p.Flags {
		fmt.Fprintf(&b, "  flag: %s\n", fl)
	}
	return b.String()
}

// key identifies the toolchain and flags in a build key; "" for the
// system's toolchain without flags, so that such builds keep their key.
func (p ToolchainPlan) key() string {
	if p.Toolchain.System() && len(p.Flags) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(p.Toolchain.ID)
	for _, fl := range p.Flags {
		b.WriteString("\x00" + fl.Kind + "=" + fl.Value)
	}
	return b.String()
}

func inRange(v, from, before string) bool {
	return (from == "" || version.Compare(v, from) >= 0) && (before == "" || version.Compare(v, before) < 0)
}

// ChooseToolchain picks the toolchain and flags for a tree; hostGCC is the
// major version of the system's gcc (the host compiler, which builds
// objtool and the other host programs in every case).
func ChooseToolchain(facts TreeFacts, hostGCC int) ToolchainPlan {
	p := ToolchainPlan{Facts: facts}
	for _, r := range toolchainTable {
		if inRange(facts.Version, r.From, r.Before) {
			p.Toolchain, p.Why = r.Toolchain, r.Why
			break
		}
	}
	if !facts.FnoPIE && inRange(facts.Version, "", "4.10") {
		p.Flags = append(p.Flags, Flag{"cc", "-fno-PIE", "the tree's Makefile does not pass -fno-PIE (added in 4.9) and Debian's gcc makes PIE by default: \"code model kernel does not support PIC mode\""})
	}
	if hostGCC >= 12 && inRange(facts.Version, "4.6", "5.10") {
		p.Flags = append(p.Flags, Flag{"hostcflags", "-Wno-use-after-free", fmt.Sprintf("objtool of this era is built with -Werror, and the host's gcc %d warns about its realloc use (use-after-free, new in gcc 12)", hostGCC)})
	}
	if !facts.PLT32 {
		p.Flags = append(p.Flags,
			Flag{"config-off", "CONFIG_RELOCATABLE", "arch/x86/tools/relocs.c lacks R_X86_64_PLT32 (fixed in 4.16 and in late 4.9.y/4.14.y), which binutils 2.31 and later emit: the relocs step fails"},
			Flag{"config-off", "CONFIG_RANDOMIZE_BASE", "it selects CONFIG_RELOCATABLE"})
	}
	return p
}

var makeVarRE = regexp.MustCompile(`(?m)^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)\s*=[ \t]*(\S*)`)

// ProbeTree reads a kernel source tree's version and the facts
// ChooseToolchain needs.
func ProbeTree(tree string) (TreeFacts, error) {
	mk, err := os.ReadFile(filepath.Join(tree, "Makefile"))
	if err != nil {
		return TreeFacts{}, fmt.Errorf("kernel tree %s: %w", tree, err)
	}
	vars := map[string]string{}
	for _, m := range makeVarRE.FindAllSubmatch(mk, -1) {
		if _, ok := vars[string(m[1])]; !ok {
			vars[string(m[1])] = string(m[2])
		}
	}
	if vars["VERSION"] == "" || vars["PATCHLEVEL"] == "" {
		return TreeFacts{}, fmt.Errorf("kernel tree %s: the Makefile has no VERSION and PATCHLEVEL: not a kernel source tree", tree)
	}
	v := vars["VERSION"] + "." + vars["PATCHLEVEL"]
	if s := vars["SUBLEVEL"]; s != "" && s != "0" {
		v += "." + s
	}
	v += vars["EXTRAVERSION"]
	relocs, _ := os.ReadFile(filepath.Join(tree, "arch", "x86", "tools", "relocs.c"))
	return TreeFacts{
		Version: v,
		FnoPIE:  bytes.Contains(mk, []byte("fno-PIE")),
		PLT32:   len(relocs) == 0 || bytes.Contains(relocs, []byte("R_X86_64_PLT32")),
	}, nil
}

// hostGCCMajor returns the major version of the system's gcc, 0 if unknown.
func hostGCCMajor() int {
	out, err := exec.Command("gcc", "-dumpversion").Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.SplitN(strings.TrimSpace(string(out)), ".", 2)[0])
	return n
}

// toolchainUse is what make gets from a prepared plan: variables and the
// config lines appended after the fragment.
type toolchainUse struct {
	plan     ToolchainPlan
	makeVars []string // "CC=...", "LD=...", "HOSTCC=..."
	ccPath   string   // the compiler wrapper, or "" for the system's gcc
	hostcc   string   // the host compiler wrapper, or ""
}

func (u *toolchainUse) configLines() string {
	var b strings.Builder
	for _, fl := range u.plan.Flags {
		if fl.Kind == "config-off" {
			fmt.Fprintf(&b, "# %s is not set\n", fl.Value)
		}
	}
	return b.String()
}

// prepareToolchain fetches (each .deb verified by SHA-256), unpacks and
// wraps the plan's toolchain in <cache>/toolchains/<ID>/, and writes
// wrappers for the flags into the build directory out.
func (f *Fetcher) prepareToolchain(ctx context.Context, cache, out string, p ToolchainPlan) (*toolchainUse, error) {
	u := &toolchainUse{plan: p}
	bin := filepath.Join(out, "toolchain-bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return nil, err
	}
	var ccFlags, hostFlags []string
	for _, fl := range p.Flags {
		switch fl.Kind {
		case "cc":
			ccFlags = append(ccFlags, fl.Value)
		case "hostcflags":
			hostFlags = append(hostFlags, fl.Value)
		}
	}
	gcc := "gcc"
	var asDir, libDir, root string
	if !p.Toolchain.System() {
		var err error
		root, err = f.unpackToolchain(ctx, cache, p.Toolchain)
		if err != nil {
			return nil, err
		}
		gcc = filepath.Join(root, "usr", "bin", "x86_64-linux-gnu-"+p.Toolchain.GCC)
		libDir = filepath.Join(root, "usr", "lib", "x86_64-linux-gnu")
		// gcc finds the assembler through -B: a directory holding only
		// "as", so that host programs it links still use the system's ld.
		asDir = filepath.Join(bin, "as-only")
		if err := os.MkdirAll(asDir, 0o755); err != nil {
			return nil, err
		}
		for _, tool := range []string{"as", "ld", "objcopy", "objdump", "nm", "ar", "strip", "readelf"} {
			w := fmt.Sprintf("#!/bin/sh\n# binutils %s from %s, for the kernel target only\nLD_LIBRARY_PATH=%s exec %s \"$@\"\n",
				p.Toolchain.Binutils, p.Toolchain.Suite, libDir, filepath.Join(root, "usr", "bin", "x86_64-linux-gnu-"+tool))
			if err := atomicfile.WriteFile(filepath.Join(bin, tool), []byte(w), 0o755); err != nil {
				return nil, err
			}
		}
		if err := atomicfile.WriteFile(filepath.Join(asDir, "as"), []byte(fmt.Sprintf("#!/bin/sh\nexec %s \"$@\"\n", filepath.Join(bin, "as"))), 0o755); err != nil {
			return nil, err
		}
		for _, tool := range []string{"AS", "LD", "OBJCOPY", "OBJDUMP", "NM", "AR", "STRIP", "READELF"} {
			u.makeVars = append(u.makeVars, tool+"="+filepath.Join(bin, strings.ToLower(tool)))
		}
	}
	if !p.Toolchain.System() || len(ccFlags) > 0 {
		// A wrapper rather than KCFLAGS: the real-mode and boot code use
		// flags of their own that KCFLAGS does not reach.
		args := ccFlags
		if asDir != "" {
			args = append([]string{"-B" + asDir + "/"}, args...)
		}
		w := fmt.Sprintf("#!/bin/sh\n# %s\nexec %s %s \"$@\"\n", p.Toolchain, gcc, strings.Join(args, " "))
		u.ccPath = filepath.Join(bin, "gcc")
		if err := atomicfile.WriteFile(u.ccPath, []byte(w), 0o755); err != nil {
			return nil, err
		}
	}
	if len(hostFlags) > 0 {
		u.hostcc = filepath.Join(bin, "hostcc")
		w := fmt.Sprintf("#!/bin/sh\nexec gcc %s \"$@\"\n", strings.Join(hostFlags, " "))
		if err := atomicfile.WriteFile(u.hostcc, []byte(w), 0o755); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// unpackToolchain returns the root of t unpacked in the cache, fetching it
// when the entry is missing or fails verification.
func (f *Fetcher) unpackToolchain(ctx context.Context, cache string, t Toolchain) (string, error) {
	dir := filepath.Join(cache, "toolchains", t.ID)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(dir + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	root := filepath.Join(dir, "root")
	if m, err := readManifest(dir); err == nil && m.Name == t.ID && verifyTree(root, m.Files) == nil {
		fmt.Fprintf(f.progress(), "toolchain %s: cache hit, verified sha256 of %d files\n", t.ID, len(m.Files))
		return root, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, ".download-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	k := Kernel{Name: "toolchain " + t.ID}
	for _, pkg := range t.Packages {
		d := &Debian{Suite: t.Suite, Package: pkg.Package, Version: pkg.Version, SHA256: pkg.SHA256}
		deb, err := f.fetchDeb(ctx, k, cache, d, "the toolchain table (harness/kernels/toolchain.go)", tmp)
		if err != nil {
			return "", err
		}
		if out, err := exec.CommandContext(ctx, "dpkg", "-x", deb, root).CombinedOutput(); err != nil {
			return "", fmt.Errorf("dpkg -x %s: %v: %s", deb, err, out)
		}
		os.Remove(deb)
	}
	// The manifest pins what the build runs: the compiler driver, cc1 and
	// the binutils, hashed again on every use.
	m := &manifest{Name: t.ID, Source: "toolchain", Files: map[string]string{}}
	ver := strings.TrimPrefix(t.GCC, "gcc-")
	for _, rel := range []string{"usr/bin/x86_64-linux-gnu-" + t.GCC, "usr/lib/gcc/x86_64-linux-gnu/" + ver + "/cc1",
		"usr/bin/x86_64-linux-gnu-as", "usr/bin/x86_64-linux-gnu-ld.bfd", "usr/bin/x86_64-linux-gnu-objcopy"} {
		sum, _, err := sha256File(filepath.Join(root, rel))
		if err != nil {
			return "", fmt.Errorf("toolchain %s: %w", t.ID, err)
		}
		m.Files[rel] = sum
	}
	if err := writeManifest(dir, m); err != nil {
		return "", err
	}
	fmt.Fprintf(f.progress(), "toolchain %s: %d packages from %s unpacked in %s\n", t.ID, len(t.Packages), t.Suite, root)
	return root, nil
}

// verifyTree hashes files (paths relative to root) against their sums.
func verifyTree(root string, files map[string]string) error {
	if len(files) == 0 {
		return fmt.Errorf("no files to verify")
	}
	for rel, want := range files {
		got, _, err := sha256File(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s: sha256 %s, manifest says %s", rel, got, want)
		}
	}
	return nil
}
