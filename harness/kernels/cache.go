package kernels

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"coldstart/internal/atomicfile"
)

// DefaultCacheDir returns $COLDSTART_CACHE, else $XDG_CACHE_HOME/coldstart,
// else $HOME/.cache/coldstart.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("COLDSTART_CACHE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "coldstart"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: set COLDSTART_CACHE (%w)", err)
	}
	return filepath.Join(home, ".cache", "coldstart"), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// lockEntry locks the cache entry of kernel name pinned by sum (a
// sha256) and returns the cache root, the entry's directory and the unlock.
func (f *Fetcher) lockEntry(name, sum string) (cache, dir string, unlock func(), err error) {
	if cache, err = f.cacheDir(); err != nil {
		return "", "", nil, err
	}
	key := name + "-" + sum[:12]
	unlock, err = lockFile(filepath.Join(cache, "kernels", "."+key+".lock"))
	if err != nil {
		return "", "", nil, err
	}
	return cache, filepath.Join(cache, "kernels", key), unlock, nil
}

// lockFile takes an exclusive flock on path (created if needed); the
// returned function releases it.
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

func sha256File(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func sha256Bytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// manifestName is written last into a cache entry; its presence means the
// entry is complete.
const manifestName = "manifest.json"

// manifest describes a complete cache entry. Files maps each file name in
// the entry directory to its SHA-256; every one is verified on use.
type manifest struct {
	Format      int               `json:"format"`
	Name        string            `json:"name"`
	Source      string            `json:"source"`
	Package     string            `json:"package,omitempty"`
	Version     string            `json:"version,omitempty"`
	Suite       string            `json:"suite,omitempty"`
	DebSHA256   string            `json:"deb_sha256,omitempty"`
	ConfigDeb   string            `json:"config_package,omitempty"`    // debian: package=version holding the config
	ConfigDebSH string            `json:"config_deb_sha256,omitempty"` // and the SHA-256 of its .deb
	Module      string            `json:"module,omitempty"`            // gomod: module@version
	ModuleSum   string            `json:"module_sum,omitempty"`        // gomod: go.sum hash reported by go mod download
	BuildKey    string            `json:"build_key,omitempty"`         // build: tree + fragment key
	BuildDir    string            `json:"build_dir,omitempty"`         // build: the out-of-tree build directory (logs live there)
	ConfigFrom  string            `json:"config_from,omitempty"`       // where the config came from: package, ikconfig, build
	SourcePath  string            `json:"source_path,omitempty"`       // file source: the original image
	SourceSHA   string            `json:"source_sha256,omitempty"`     // and its SHA-256
	Release     string            `json:"release"`
	BzImage     string            `json:"bzimage,omitempty"` // file name in the entry
	Config      string            `json:"config,omitempty"`
	Vmlinux     string            `json:"vmlinux,omitempty"`
	VmlinuxErr  string            `json:"vmlinux_error,omitempty"`
	Compression string            `json:"compression,omitempty"`
	PVHEntry    string            `json:"pvh_entry,omitempty"`
	Files       map[string]string `json:"files"`
}

const manifestFormat = 1

func readManifest(dir string) (*manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", manifestName, err)
	}
	if m.Format != manifestFormat {
		return nil, fmt.Errorf("%s: format %d, want %d", manifestName, m.Format, manifestFormat)
	}
	return &m, nil
}

func writeManifest(dir string, m *manifest) error {
	m.Format = manifestFormat
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, manifestName), append(data, '\n'), 0o644)
}

// verify hashes every file the manifest names.
func (m *manifest) verify(dir string) error {
	for _, name := range []string{m.BzImage, m.Config, m.Vmlinux} {
		if name != "" && m.Files[name] == "" {
			return fmt.Errorf("manifest names %s without a checksum", name)
		}
	}
	for name, want := range m.Files {
		if !safeName(name) {
			return fmt.Errorf("manifest names an unsafe file %q", name)
		}
		got, _, err := sha256File(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s: sha256 %s, manifest says %s", name, got, want)
		}
	}
	return nil
}

// safeName reports whether name is a plain file name, usable inside a
// cache entry directory.
func safeName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00") && filepath.Base(name) == name
}

// insideDir joins dir and name and checks the result stays inside dir.
func insideDir(dir, name string) (string, error) {
	if !safeName(name) {
		return "", fmt.Errorf("refusing file name %q: not a plain file name", name)
	}
	p := filepath.Join(dir, name)
	rel, err := filepath.Rel(dir, p)
	if err != nil || rel != name {
		return "", fmt.Errorf("refusing file name %q: it leaves %s", name, dir)
	}
	return p, nil
}
