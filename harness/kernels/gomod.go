package kernels

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"coldstart/internal/atomicfile"
)

// ErrModuleUnavailable means go mod download could not fetch a pinned module
// version (network, proxy, or a version the proxy no longer serves).
var ErrModuleUnavailable = errors.New("Go module unavailable")

// modDownload is the part of go mod download -json's output this package
// reads.
type modDownload struct {
	Path, Version, Dir, Zip, Sum, Error string
}

// goModCache is the private module cache: modules are downloaded there, never
// added to any go.mod.
func goModCache(cache string) string { return filepath.Join(cache, "gomod") }

// goModDownload runs go mod download -json module@version with a private
// module cache, outside any module.
func (f *Fetcher) goModDownload(ctx context.Context, cache string, g *GoMod) (*modDownload, error) {
	work, err := os.MkdirTemp(cache, ".gomod-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	spec := g.Module + "@" + g.Version
	cmd := exec.CommandContext(ctx, orDefault(f.Go, "go"), "mod", "download", "-json", spec)
	cmd.Dir = work // no go.mod here: nothing is added to any module
	cmd.Env = append(os.Environ(),
		"GOMODCACHE="+goModCache(cache),
		"GOFLAGS=-modcacherw", // so the cache can be cleaned without chmod
		"GO111MODULE=on", "GOWORK=off")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var d modDownload
	if err := json.Unmarshal(stdout.Bytes(), &d); err != nil {
		if notStarted(runErr) {
			return nil, fmt.Errorf("%w: cannot run go: %v: install Go or set Fetcher.Go", ErrModuleUnavailable, runErr)
		}
		return nil, fmt.Errorf("%w: go mod download -json %s: %v: %s", ErrModuleUnavailable, spec, runErr, tail(stderr.Bytes(), 6))
	}
	if d.Error != "" || runErr != nil {
		return nil, fmt.Errorf("%w: %s: %s%s\nthe proxy may no longer serve this version: pin one it serves (go list -m -versions %s; for pseudo-versions see the repository's commits)",
			ErrModuleUnavailable, spec, d.Error, tail(stderr.Bytes(), 4), g.Module)
	}
	if d.Dir == "" {
		return nil, fmt.Errorf("%w: go mod download -json %s reported no directory", ErrModuleUnavailable, spec)
	}
	return &d, nil
}

// removeModule deletes a downloaded module from the private module cache.
// Module cache files are read-only, so they are made writable first.
func removeModule(d *modDownload) {
	removeModuleDir(d.Dir)
	if d.Zip != "" {
		base := strings.TrimSuffix(d.Zip, ".zip")
		for _, ext := range []string{".zip", ".ziphash", ".info", ".mod", ".lock"} {
			os.Remove(base + ext)
		}
	}
}

// removeModuleDir removes an extracted module directory, making its
// read-only files and directories writable first.
func removeModuleDir(dir string) {
	_ = filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err == nil {
			_ = os.Chmod(path, 0o755)
		}
		return nil
	})
	_ = os.RemoveAll(dir)
}

func (f *Fetcher) fetchGoMod(ctx context.Context, k Kernel) (*Image, error) {
	g := k.GoMod
	progress := f.progress()
	cache, dir, unlock, err := f.lockEntry(k.Name, g.SHA256)
	if err != nil {
		return nil, err
	}
	defer unlock()
	spec := g.Module + "@" + g.Version
	if im, ok := f.cached(dir, func(m *manifest) bool {
		return m.Source == SourceGoMod && m.Module == spec && m.SourceSHA == g.SHA256 && m.Name == k.Name
	}); ok {
		return im, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	step := f.step("go mod download %s", spec)
	start := time.Now()
	d, err := f.goModDownload(ctx, cache, g)
	if err != nil {
		step.fail()
		return nil, fmt.Errorf("kernel %s%s: %w", k.Name, inFile(k.File), err)
	}
	if g.Sum != "" && d.Sum != g.Sum {
		removeModule(d)
		step.fail()
		return nil, fmt.Errorf("kernel %s: %s: %w: go mod download reports module hash %s, %s pins %s: the module was deleted from the cache; check the pin",
			k.Name, spec, ErrChecksumMismatch, d.Sum, orDefault(k.File, "the kernel file"), g.Sum)
	}
	src := filepath.Join(d.Dir, filepath.FromSlash(g.Path))
	bz, err := os.ReadFile(src)
	if err != nil {
		step.fail()
		return nil, fmt.Errorf("kernel %s: %s has no %s: %w (set gomod.path to the image inside the module)", k.Name, spec, g.Path, err)
	}
	sum := sha256Bytes(bz)
	if sum != g.SHA256 {
		removeModule(d)
		step.fail()
		return nil, fmt.Errorf("kernel %s: %s %s: %w: the file has %s, %s pins %s: the module was deleted from the cache; check the pin and retry",
			k.Name, spec, g.Path, ErrChecksumMismatch, sum, orDefault(k.File, "the kernel file"), g.SHA256)
	}
	step.done("%s in %s", mb(int64(len(bz))), time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(progress, "verified sha256 %s of %s %s (module hash %s)\n", sum, spec, g.Path, d.Sum)

	h, err := ParseBzImage(bz)
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %s %s: %w", k.Name, spec, g.Path, err)
	}
	m := &manifest{
		Name:      k.Name,
		Source:    SourceGoMod,
		Module:    spec,
		ModuleSum: d.Sum,
		SourceSHA: sum,
		Release:   h.Release(),
		Files:     map[string]string{},
	}
	release := m.Release
	if !releaseRE.MatchString(release) {
		release = "unknown"
	}
	m.BzImage = "vmlinuz-" + release
	if err := atomicfile.WriteFile(filepath.Join(dir, m.BzImage), bz, 0o644); err != nil {
		return nil, err
	}
	m.Files[m.BzImage] = sum
	if err := deriveVmlinux(progress, dir, bz, m); err != nil {
		return nil, err
	}
	if err := saveIKConfig(progress, dir, m, bz); err != nil {
		return nil, err
	}
	if err := writeManifest(dir, m); err != nil {
		return nil, err
	}
	// The image is in the entry now; the extracted module is not needed (the
	// zip stays, so a re-fetch does not hit the network).
	removeModuleDir(d.Dir)
	return imageFromManifest(dir, m), nil
}

// saveIKConfig stores the config embedded in an image (CONFIG_IKCONFIG) as
// config-<release> in the entry, if there is one.
func saveIKConfig(progress interface{ Write([]byte) (int, error) }, dir string, m *manifest, image []byte) error {
	var cfg []byte
	var err error
	if m.Vmlinux != "" {
		vm, rerr := os.ReadFile(filepath.Join(dir, m.Vmlinux))
		if rerr != nil {
			return rerr
		}
		cfg, err = ExtractIKConfig(vm)
	} else {
		cfg, err = ExtractIKConfig(image)
	}
	if err != nil {
		fmt.Fprintf(progress, "config: %v\n", err)
		return nil
	}
	name := "config-" + m.Release
	if !safeName(name) || !releaseRE.MatchString(m.Release) {
		name = "config"
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, name), cfg, 0o644); err != nil {
		return err
	}
	m.Config = name
	m.ConfigFrom = "ikconfig"
	m.Files[name] = sha256Bytes(cfg)
	fmt.Fprintf(progress, "config: %s from the image's IKCONFIG (%d bytes)\n", name, len(cfg))
	return nil
}
