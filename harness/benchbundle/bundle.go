// Package benchbundle generates the benchmark's OCI bundles, the ones the
// guest times the runtimes on (runtime/bundle is the runtime's reader of
// any bundle): a rootfs holding one tiny static program that exits 0 at
// once (emitted here as a minimal x86-64 ELF, no toolchain needed), and a
// config.json in the shape `runc spec` gives (namespaces, mounts, masked
// and read-only paths, capabilities, no_new_privs, rlimits; no cgroup
// resources), in two variants: "none" without seccomp and "default" with
// the project's default seccomp profile (profiles/default.json). A third,
// "probe", runs cmd/csprobe with flags taken from its own config, for the
// isolation/* checks (guest/probe).
//
// Bundles are written under a cache directory, content-addressed, and
// handed to the initramfs as directories at /bundles/<variant>.
//
// Environment: none.
package benchbundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"coldstart/internal/atomicfile"
	"coldstart/runtime/bundle"
)

// Variants of the bundle, by seccomp mode, and the probe bundle.
const (
	None    = "none"
	Default = "default"
	// Probe runs cmd/csprobe, which checks the container's isolation.
	Probe = "probe"
)

// GuestRootOnly are paths of the guest's root file system (the initramfs
// copy) that no container may reach; the probe checks them.
var GuestRootOnly = []string{"/init", "/bbin/csrun", "/bundles", "/usr/sbin/runc"}

// ExitELF returns a static x86-64 ELF executable that calls exit(0) and
// nothing else: 129 bytes, no libc, no dynamic loader, so a container's
// start-up is all runtime and kernel.
func ExitELF() []byte {
	const base = 0x400000
	code := []byte{
		0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
		0x31, 0xff, // xor edi, edi
		0x0f, 0x05, // syscall
	}
	const ehSize, phSize = 64, 56
	total := ehSize + phSize + len(code)
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0}) // 64-bit, little-endian, version 1, SysV
	b.Write(make([]byte, 8))
	w(uint16(2))                      // ET_EXEC
	w(uint16(0x3e))                   // EM_X86_64
	w(uint32(1))                      // EV_CURRENT
	w(uint64(base + ehSize + phSize)) // entry
	w(uint64(ehSize))                 // phoff
	w(uint64(0))                      // shoff
	w(uint32(0))                      // flags
	w(uint16(ehSize))                 // ehsize
	w(uint16(phSize))                 // phentsize
	w(uint16(1))                      // phnum
	w(uint16(0))                      // shentsize
	w(uint16(0))                      // shnum
	w(uint16(0))                      // shstrndx
	// PT_LOAD of the whole file, read + execute.
	w(uint32(1))
	w(uint32(5))
	w(uint64(0))
	w(uint64(base))
	w(uint64(base))
	w(uint64(total))
	w(uint64(total))
	w(uint64(0x1000))
	b.Write(code)
	return b.Bytes()
}

// SpecVersion is the OCI runtime-spec version the bundles declare.
const SpecVersion = "1.0.2"

// Config returns the config.json of a bundle whose process is /true, with
// seccomp set to profile (nil: none).
func Config(profile *specs.LinuxSeccomp) *specs.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return &specs.Spec{
		// What `runc spec` writes; crun 1.8 refuses newer versions it does not
		// know ("unknown version specified").
		Version: SpecVersion,
		Process: &specs.Process{
			Terminal: false,
			User:     specs.User{UID: 0, GID: 0},
			Args:     []string{"/true"},
			Env:      []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cwd:      "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: "rootfs", Readonly: true},
		Hostname: "coldstart",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}, {Type: specs.CgroupNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
				"/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
			Seccomp:       profile,
		},
	}
}

// ProbeConfig is Config(nil) whose process is /csprobe, told by its flags
// what this very config asks for: the masked and read-only paths, the
// effective capabilities and the guest paths that must stay out of reach.
func ProbeConfig() *specs.Spec {
	c := Config(nil)
	var capeff uint64
	for _, name := range c.Process.Capabilities.Effective {
		capeff |= 1 << bundle.Capabilities[name]
	}
	c.Process.Args = []string{"/csprobe",
		"-masked", strings.Join(c.Linux.MaskedPaths, ","),
		"-readonly", strings.Join(c.Linux.ReadonlyPaths, ","),
		"-capeff", fmt.Sprintf("%#x", capeff),
		"-host-only", strings.Join(GuestRootOnly, ","),
	}
	return c
}

// WriteProbe writes the probe bundle, with the static csprobe binary at
// probeBin as its program, under cacheDir (content-addressed) and returns
// its directory.
func WriteProbe(cacheDir, probeBin string) (string, error) {
	bin, err := os.ReadFile(probeBin)
	if err != nil {
		return "", fmt.Errorf("probe bundle: %w", err)
	}
	cfg, err := json.MarshalIndent(ProbeConfig(), "", "\t")
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(bin)
	h.Write(cfg)
	dir := filepath.Join(cacheDir, "probe-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return dir, nil
	}
	if err := writeBundle(dir, "csprobe", bin, cfg); err != nil {
		return "", fmt.Errorf("probe bundle: %w", err)
	}
	return dir, nil
}

// writeBundle writes rootfs/<prog> and config.json, the latter last: its
// presence marks a complete bundle.
func writeBundle(dir, prog string, bin, cfg []byte) error {
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"proc", "dev", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	if err := atomicfile.WriteFile(filepath.Join(rootfs, prog), bin, 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
}

// LoadProfile reads an OCI linux.seccomp profile.
func LoadProfile(path string) (*specs.LinuxSeccomp, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	var p specs.LinuxSeccomp
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("seccomp profile %s is not an OCI linux.seccomp object: %w", path, err)
	}
	if len(p.Syscalls) == 0 {
		return nil, fmt.Errorf("seccomp profile %s lists no syscalls", path)
	}
	return &p, nil
}

// Write generates the bundles under cacheDir (content-addressed; reused
// when present) and returns the directory of each variant by name. With a
// nil profile only the "none" variant is made.
func Write(cacheDir string, profile *specs.LinuxSeccomp) (map[string]string, error) {
	variants := map[string]*specs.Spec{None: Config(nil)}
	if profile != nil {
		variants[Default] = Config(profile)
	}
	elf := ExitELF()
	h := sha256.New()
	h.Write(elf)
	configs := map[string][]byte{}
	for _, name := range []string{None, Default} {
		spec, ok := variants[name]
		if !ok {
			continue
		}
		b, err := json.MarshalIndent(spec, "", "\t")
		if err != nil {
			return nil, err
		}
		configs[name] = b
		fmt.Fprintf(h, "%s\n", name)
		h.Write(b)
	}
	root := filepath.Join(cacheDir, hex.EncodeToString(h.Sum(nil))[:16])
	out := map[string]string{}
	for name, cfg := range configs {
		dir := filepath.Join(root, name)
		out[name] = dir
		if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
			continue
		}
		if err := writeBundle(dir, "true", elf, cfg); err != nil {
			return nil, fmt.Errorf("bundle %s: %w", name, err)
		}
	}
	return out, nil
}
