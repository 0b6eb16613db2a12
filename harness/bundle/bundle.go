// Package bundle generates the OCI bundles the guest runs: a rootfs holding
// one tiny static program that exits 0 at once (emitted here as a minimal
// x86-64 ELF, no toolchain needed), and a config.json in the shape `runc
// spec` gives (namespaces, mounts, masked and read-only paths,
// capabilities, no_new_privs, rlimits; no cgroup resources), in two
// variants: "none" without seccomp and "default" with the project's
// default seccomp profile (profiles/default.json).
//
// Bundles are written under a cache directory, content-addressed, and
// handed to the initramfs as directories at /bundles/<variant>.
//
// Environment: none.
package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"coldstart/internal/atomicfile"
)

// Variants of the bundle, by seccomp mode.
const (
	None    = "none"
	Default = "default"
)

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
		rootfs := filepath.Join(dir, "rootfs")
		for _, d := range []string{"proc", "dev", "sys", "tmp"} {
			if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
				return nil, fmt.Errorf("bundle %s: %w", name, err)
			}
		}
		if err := atomicfile.WriteFile(filepath.Join(rootfs, "true"), elf, 0o755); err != nil {
			return nil, fmt.Errorf("bundle %s: %w", name, err)
		}
		// config.json last: its presence marks a complete bundle.
		if err := atomicfile.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
			return nil, fmt.Errorf("bundle %s: %w", name, err)
		}
	}
	return out, nil
}
