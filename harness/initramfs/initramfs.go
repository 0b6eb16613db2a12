// Package initramfs builds the guest's initramfs: u-root's init, the
// coldstart agent as uinit, and any extra files (runtimes, bundles), as a
// newc cpio archive assembled with github.com/u-root/mkuimage.
//
// Archives are content-addressed: the key is a SHA-256 over every input
// file's archive path, mode and content, so an archive is rebuilt only when
// an input changes, and a cache hit costs one hash of the inputs. Archives
// are written atomically.
//
// Binaries compiles the Go programs that go in (u-root's init and csagent)
// with plain `go build` (static, CGO off), which the Go build cache makes
// fast on the warm path.
//
// Environment: the go command's own (GOFLAGS, GOCACHE, ...).
package initramfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/u-root/mkuimage/uimage"
	"github.com/u-root/uio/llog"

	"coldstart/internal/atomicfile"
)

// formatVersion changes when the archive's layout changes for the same
// inputs, so old cache entries are not reused.
const formatVersion = "coldstart-initramfs-1"

// Archive paths of the fixed parts.
const (
	InitPath  = "bbin/init"
	AgentPath = "bbin/csagent"
)

// InitPackage is u-root's init, kept in go.mod by a tool directive.
const InitPackage = "github.com/u-root/u-root/cmds/core/init"

// File is a host file placed in the archive.
type File struct {
	Src string // host path
	Dst string // path inside the archive, relative ("bin/crun")
}

// Options says what goes in the archive and where the cache is.
type Options struct {
	Init  string // host path of u-root's init binary
	Agent string // host path of the csagent binary
	Files []File
	// CacheDir holds the archives (one file per key).
	CacheDir string
	// Logger receives mkuimage's messages; nil discards them.
	Logger *slog.Logger
}

// Result describes a built (or reused) archive.
type Result struct {
	Path string
	Key  string
	Hit  bool // taken from the cache
}

// Build returns the archive for o, building it only when the cache lacks it.
func Build(ctx context.Context, o Options) (*Result, error) {
	if o.Init == "" || o.Agent == "" {
		return nil, fmt.Errorf("initramfs: both the init and the agent binaries are needed")
	}
	if o.CacheDir == "" {
		return nil, fmt.Errorf("initramfs: no cache directory given")
	}
	files := append([]File{{Src: o.Init, Dst: InitPath}, {Src: o.Agent, Dst: AgentPath}}, o.Files...)
	key, err := Key(files)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(o.CacheDir, key[:24]+".cpio")
	if st, err := os.Stat(out); err == nil && st.Size() > 0 {
		return &Result{Path: out, Key: key, Hit: true}, nil
	}
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("initramfs cache: %w", err)
	}
	tmpDir, err := os.MkdirTemp(o.CacheDir, ".build-*")
	if err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	tmpOut := filepath.Join(tmpDir, "initramfs.cpio")

	var specs []string
	for _, f := range files {
		if strings.Contains(f.Src, ":") || strings.Contains(f.Dst, ":") {
			return nil, fmt.Errorf("initramfs: path %q or %q has a colon, which mkuimage cannot take", f.Src, f.Dst)
		}
		specs = append(specs, f.Src+":"+f.Dst)
	}
	logger := llog.New(slog.LevelWarn, func(string, ...any) {})
	if o.Logger != nil {
		logger = llog.New(slog.LevelInfo, func(format string, v ...any) { o.Logger.Info(fmt.Sprintf(format, v...)) })
	}
	err = uimage.Create(logger,
		uimage.WithBaseArchive(uimage.DefaultRamfs()),
		uimage.WithFiles(specs...),
		uimage.WithInit("/"+InitPath),
		uimage.WithUinit("/"+AgentPath),
		uimage.WithCPIOOutput(tmpOut),
		uimage.WithTempDir(tmpDir),
	)
	if err != nil {
		return nil, fmt.Errorf("initramfs: mkuimage: %w", err)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	f, err := os.Open(tmpOut)
	if err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("initramfs: sync: %w", err)
	}
	f.Close()
	if err := os.Rename(tmpOut, out); err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	return &Result{Path: out, Key: key}, nil
}

// Key is the content address of an archive made of files.
func Key(files []File) (string, error) {
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Dst < sorted[j].Dst })
	h := sha256.New()
	io.WriteString(h, formatVersion+"\n")
	for _, f := range sorted {
		st, err := os.Stat(f.Src)
		if err != nil {
			return "", fmt.Errorf("initramfs input %s: %w", f.Src, err)
		}
		if !st.IsDir() {
			sum, err := fileSHA256(f.Src)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "%s %o %s\n", f.Dst, st.Mode().Perm(), sum)
			continue
		}
		// A directory goes in whole, empty directories and symlinks too.
		err = filepath.WalkDir(f.Src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(f.Src, p)
			info, err := d.Info()
			if err != nil {
				return err
			}
			dst := filepath.Join(f.Dst, rel)
			switch {
			case d.IsDir():
				fmt.Fprintf(h, "%s/ %o\n", dst, info.Mode().Perm())
			case info.Mode()&fs.ModeSymlink != 0:
				l, err := os.Readlink(p)
				if err != nil {
					return err
				}
				fmt.Fprintf(h, "%s -> %s\n", dst, l)
			default:
				sum, err := fileSHA256(p)
				if err != nil {
					return err
				}
				fmt.Fprintf(h, "%s %o %s\n", dst, info.Mode().Perm(), sum)
			}
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("initramfs input %s: %w", f.Src, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Binaries builds u-root's init and csagent from the coldstart module in
// moduleDir into outDir, static and without cgo, and returns their paths.
// One go command builds both: on the warm path its start-up is most of the
// cost.
func Binaries(ctx context.Context, moduleDir, outDir string) (initBin, agentBin string, err error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", "", fmt.Errorf("build guest binaries: %w", err)
	}
	initBin = filepath.Join(outDir, "init")
	agentBin = filepath.Join(outDir, "csagent")
	// Even a no-op go build costs most of a second; skip it when no source
	// file, go.mod or go.sum changed since the last build.
	stampPath := filepath.Join(outDir, ".source-stamp")
	stamp, stampErr := sourceStamp(moduleDir)
	if stampErr == nil {
		if old, err := os.ReadFile(stampPath); err == nil && string(old) == stamp && exists(initBin) && exists(agentBin) {
			return initBin, agentBin, nil
		}
	}
	// Build into a fresh directory and rename, so that a reader never sees
	// a half-written binary.
	tmp, err := os.MkdirTemp(outDir, ".build-*")
	if err != nil {
		return "", "", fmt.Errorf("build guest binaries: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w",
		"-o", tmp+string(filepath.Separator), InitPackage, "./cmd/csagent")
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("go build of the guest binaries in %s: %w\n%s", moduleDir, err, stderr.String())
	}
	for _, p := range []string{initBin, agentBin} {
		if err := os.Rename(filepath.Join(tmp, filepath.Base(p)), p); err != nil {
			return "", "", fmt.Errorf("build guest binaries: %w", err)
		}
	}
	if stampErr == nil {
		atomicfile.WriteFile(stampPath, []byte(stamp), 0o644)
	}
	return initBin, agentBin, nil
}

// StaticCgo builds one cgo program of the module (pkg, e.g. ./cmd/csrun)
// as a fully static binary named name in outDir, for a guest that has no
// shared libraries of its own. It is skipped, like Binaries, when no source
// changed.
func StaticCgo(ctx context.Context, moduleDir, outDir, pkg, name string) (string, error) {
	return static(ctx, moduleDir, outDir, pkg, name, true)
}

// Static builds one pure-Go program of the module as a static binary
// (CGO_ENABLED=0), skipped like StaticCgo when no source changed.
func Static(ctx context.Context, moduleDir, outDir, pkg, name string) (string, error) {
	return static(ctx, moduleDir, outDir, pkg, name, false)
}

func static(ctx context.Context, moduleDir, outDir, pkg, name string, cgo bool) (string, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	bin := filepath.Join(outDir, name)
	stampPath := filepath.Join(outDir, ".source-stamp-"+name)
	stamp, stampErr := sourceStamp(moduleDir)
	if stampErr == nil {
		if old, err := os.ReadFile(stampPath); err == nil && string(old) == stamp && exists(bin) {
			return bin, nil
		}
	}
	tmp := bin + ".tmp"
	ldflags, cgoEnv := "-ldflags=-s -w", "CGO_ENABLED=0"
	if cgo {
		ldflags, cgoEnv = "-ldflags=-s -w -linkmode external -extldflags -static", "CGO_ENABLED=1"
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", ldflags, "-o", tmp, pkg)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), cgoEnv, "GOOS=linux", "GOARCH=amd64")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("static build of %s in %s: %w\n%s(is libseccomp-dev installed? run make setup)", pkg, moduleDir, err, stderr.String())
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	if stampErr == nil {
		atomicfile.WriteFile(stampPath, []byte(stamp), 0o644)
	}
	return bin, nil
}

// sourceStamp summarizes what the guest binaries are built from: the path,
// size and modification time of every Go source and module file in the
// module, the toolchain and the build environment. Dependencies outside
// the module are pinned by go.sum, which is part of it.
func sourceStamp(moduleDir string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s %s %s\n", formatVersion, runtime.Version(), os.Getenv("GOFLAGS"), os.Getenv("GOTOOLCHAIN"))
	err := filepath.WalkDir(moduleDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "results", "testdata", "bin", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		n := d.Name()
		if !(strings.HasSuffix(n, ".go") || strings.HasSuffix(n, ".s") || n == "go.mod" || n == "go.sum") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d %d\n", p, info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ModuleRoot finds the coldstart module's root from dir upwards, so the
// harness can build the guest binaries when run from anywhere in a checkout.
func ModuleRoot(dir string) (string, error) {
	start := dir
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module coldstart")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no coldstart checkout at or above %s: run coldstart from its source tree (it builds the guest agent from source), or set COLDSTART_SRC", start)
		}
		dir = parent
	}
}
