package kernels

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// ErrUnpinned means a kernel file names a source without its checksum:
// nothing is fetched or built until the user pins it.
var ErrUnpinned = errors.New("source not pinned")

// Tarball is a kernel source tarball (kernel.org's linux-X.Y.Z.tar.xz),
// pinned by SHA-256. It is looked for first in the mirror directory,
// <cache>/mirror/<base name of URL>, so that a machine without the
// internet builds from files put there; otherwise it is downloaded from
// URL into that directory.
type Tarball struct {
	URL    string `toml:"url"`    // where the tarball is published; its base name is the file name in the mirror
	SHA256 string `toml:"sha256"` // SHA-256 of the tarball; empty: fetch refuses and says how to pin it
}

// FileName is the tarball's name in the mirror directory.
func (t *Tarball) FileName() string {
	u, err := url.Parse(t.URL)
	if err != nil || u.Path == "" {
		return path.Base(t.URL)
	}
	return path.Base(u.Path)
}

// MirrorDir is the directory tried first for source tarballs.
func MirrorDir(cache string) string { return filepath.Join(cache, "mirror") }

func validateTarball(f string, t *Tarball) error {
	u, err := url.Parse(t.URL)
	switch {
	case t.URL == "":
		return fileError(f, "build.tarball.url", "missing: add url = \"https://cdn.kernel.org/pub/linux/kernel/v4.x/linux-4.19.325.tar.xz\" (its file name is looked for in <cache>/mirror first)")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "file"):
		return fileError(f, "build.tarball.url", "%q is not an http(s) or file URL", t.URL)
	case !strings.Contains(t.FileName(), ".tar"):
		return fileError(f, "build.tarball.url", "%q does not name a .tar.* file", t.URL)
	}
	t.SHA256 = strings.ToLower(t.SHA256)
	if t.SHA256 != "" && !sha256RE.MatchString(t.SHA256) {
		return fileError(f, "build.tarball.sha256", "%q is not a SHA-256: give 64 hex digits, or leave it empty until you have checked one", t.SHA256)
	}
	return nil
}

// unpinnedError says how to pin a tarball whose sha256 is empty.
func unpinnedError(k Kernel, cache string) error {
	t := k.Build.Tarball
	return fmt.Errorf("kernel %s%s: %w: build.tarball.sha256 is empty, so %s is neither downloaded nor built. "+
		"Download it (%s), check it against kernel.org's signed sha256sums.asc, "+
		"put it in %s and write its `sha256sum` into the kernel file",
		k.Name, inFile(k.File), ErrUnpinned, t.FileName(), t.URL, MirrorDir(cache))
}

// tarballTree returns the unpacked tree of a tarball kernel:
// <cache>/src/tarball-<sha256[:12]>/<top directory>.
func (f *Fetcher) tarballTree(ctx context.Context, k Kernel, cache string) (string, error) {
	t := k.Build.Tarball
	if t.SHA256 == "" {
		return "", unpinnedError(k, cache)
	}
	dir := filepath.Join(cache, "src", "tarball-"+t.SHA256[:12])
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(dir + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if tree, err := os.ReadFile(filepath.Join(dir, ".coldstart-tree")); err == nil {
		return filepath.Join(dir, strings.TrimSpace(string(tree))), nil
	}
	tarball, err := f.mirrorFile(ctx, k, cache)
	if err != nil {
		return "", err
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".unpack-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	st := f.step("unpacking %s", filepath.Base(tarball))
	if out, err := exec.CommandContext(ctx, "tar", "-xf", tarball, "-C", tmp, "--no-same-owner").CombinedOutput(); err != nil {
		st.fail()
		return "", fmt.Errorf("tar -xf %s: %v: %s", tarball, err, out)
	}
	ents, err := os.ReadDir(tmp)
	if err != nil || len(ents) != 1 || !ents[0].IsDir() {
		st.fail()
		return "", fmt.Errorf("%s does not hold exactly one directory", tarball)
	}
	name := ents[0].Name()
	if err := os.WriteFile(filepath.Join(tmp, ".coldstart-tree"), []byte(name+"\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	st.done("%s", filepath.Join(dir, name))
	return filepath.Join(dir, name), nil
}

// mirrorFile returns the verified tarball in the mirror directory,
// downloading it there first when it is missing.
func (f *Fetcher) mirrorFile(ctx context.Context, k Kernel, cache string) (string, error) {
	t := k.Build.Tarball
	mdir := MirrorDir(cache)
	p := filepath.Join(mdir, t.FileName())
	check := func(from string) error {
		sum, size, err := sha256File(p)
		if err != nil {
			return err
		}
		if sum != t.SHA256 {
			return fmt.Errorf("kernel %s: %s (%s): %w: it has sha256 %s, %s pins %s: remove or replace the file (a partial or wrong download), or fix build.tarball.sha256",
				k.Name, p, from, ErrChecksumMismatch, sum, orDefault(k.File, "the kernel file"), t.SHA256)
		}
		fmt.Fprintf(f.progress(), "verified sha256 %s of %s (%s, %s)\n", sum, t.FileName(), mb(size), from)
		return nil
	}
	if _, err := os.Stat(p); err == nil {
		return p, check("from the mirror directory")
	}
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		return "", err
	}
	part := p + ".part"
	st := f.step("downloading %s", t.URL)
	start := time.Now()
	if err := download(ctx, t.URL, part); err != nil {
		st.fail()
		os.Remove(part)
		return "", fmt.Errorf("kernel %s%s: %s is not in %s and the download failed: %w; on a machine without the internet, put the file there",
			k.Name, inFile(k.File), t.FileName(), mdir, err)
	}
	if err := os.Rename(part, p); err != nil {
		return "", err
	}
	st.done("in %s", time.Since(start).Round(time.Millisecond))
	if err := check("downloaded"); err != nil {
		os.Remove(p)
		return "", err
	}
	return p, nil
}

// download copies u (http, https or file) to dest.
func download(ctx context.Context, u, dest string) error {
	out, err := os.Create(dest)
	if err != nil {
		return err
	}
	defer out.Close()
	var body io.ReadCloser
	if pu, err := url.Parse(u); err == nil && pu.Scheme == "file" {
		if body, err = os.Open(pu.Path); err != nil {
			return err
		}
	} else {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		body = resp.Body
	}
	defer body.Close()
	if _, err := io.Copy(out, body); err != nil {
		return err
	}
	return out.Sync()
}
