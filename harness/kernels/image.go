package kernels

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"coldstart/internal/atomicfile"
)

// ErrChecksumMismatch means a download or file does not have the pinned
// SHA-256.
var ErrChecksumMismatch = errors.New("sha256 mismatch")

// Image is a verified kernel on disk.
type Image struct {
	Name        string // kernel name from its file ("file" for ImageFromFile)
	Release     string // kernel release, e.g. "6.1.0-57-cloud-amd64"
	BzImage     string // the compressed kernel; "" when given an ELF vmlinux
	Vmlinux     string // uncompressed ELF with a PVH entry; "" if unavailable
	VmlinuxErr  string // why Vmlinux is "" (no PVH note, unsupported compression, ...)
	PVH         bool   // the kernel has a PVH entry note
	Compression string // bzImage payload compression ("lz4", "zstd", "xz", "gzip", ...)
	Config      string // kernel config file, or "" if unknown
	SHA256      string // SHA-256 of BzImage (of the ELF when BzImage is "")
	Dir         string // cache entry directory ("" when nothing was cached)
	CacheHit    bool   // served from a verified cache entry without apt-get
}

// Boot returns the path to give to QEMU's -kernel: the vmlinux when it has a
// PVH entry (much faster to start under TCG), else the bzImage.
func (im *Image) Boot() string {
	if im.Vmlinux != "" {
		return im.Vmlinux
	}
	return im.BzImage
}

var releaseRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]*$`)

// imageFromManifest builds the Image a verified cache entry describes.
func imageFromManifest(dir string, m *manifest) *Image {
	im := &Image{
		Name:        m.Name,
		Release:     m.Release,
		VmlinuxErr:  m.VmlinuxErr,
		Compression: m.Compression,
		Dir:         dir,
		PVH:         m.PVHEntry != "",
	}
	if m.BzImage != "" {
		im.BzImage = filepath.Join(dir, m.BzImage)
		im.SHA256 = m.Files[m.BzImage]
	} else {
		im.BzImage = m.SourcePath
		im.SHA256 = m.SourceSHA
	}
	if m.Vmlinux != "" {
		im.Vmlinux = filepath.Join(dir, m.Vmlinux)
	}
	if m.Config != "" {
		im.Config = filepath.Join(dir, m.Config)
	}
	return im
}

// deriveVmlinux extracts the vmlinux of bz into dir and records the result
// in m. Failing to extract is not an error (the bzImage still boots); the
// reason goes to m.VmlinuxErr. Only write errors are returned.
func deriveVmlinux(progress io.Writer, dir string, bz []byte, m *manifest) error {
	start := time.Now()
	h, err := ParseBzImage(bz)
	if err != nil {
		return err
	}
	m.Compression = h.Compression
	if m.Release == "" {
		m.Release = h.Release()
	}
	vm, err := ExtractVmlinux(bz)
	if err != nil {
		m.VmlinuxErr = err.Error()
		fmt.Fprintf(progress, "vmlinux: not extracted: %v (the bzImage is used)\n", err)
		return nil
	}
	entry, ok, err := pvhEntry(vm)
	if err != nil || !ok {
		m.VmlinuxErr = "the kernel has no PVH entry note (built without CONFIG_PVH); QEMU can only boot the bzImage"
		fmt.Fprintf(progress, "vmlinux: %s\n", m.VmlinuxErr)
		return nil
	}
	const name = "vmlinux"
	if err := atomicfile.WriteFile(filepath.Join(dir, name), vm, 0o644); err != nil {
		return err
	}
	m.Vmlinux = name
	m.PVHEntry = fmt.Sprintf("%#x", entry)
	m.Files[name] = sha256Bytes(vm)
	fmt.Fprintf(progress, "vmlinux: %s payload %s -> %s ELF, PVH entry %#x, in %s\n",
		h.Compression, mb(int64(h.PayloadLength)), mb(int64(len(vm))), entry, time.Since(start).Round(time.Millisecond))
	return nil
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// ImageFromFile turns a kernel already on disk (an ad-hoc --kernel-file) into
// an Image: a bzImage gets its vmlinux extracted and cached under cacheDir
// ("" for DefaultCacheDir); an x86-64 ELF with a PVH note is used as it is. A
// file that is neither gets an error wrapping ErrNotKernel.
func ImageFromFile(ctx context.Context, path string, cacheDir string) (*Image, error) {
	f := &Fetcher{CacheDir: cacheDir}
	return f.fromFile(ctx, "file", path, "")
}

// fromFile implements ImageFromFile and the "file" source.
func (f *Fetcher) fromFile(ctx context.Context, name, path, pin string) (*Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	progress := f.progress()
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("kernel file: %w", err)
	}
	sum := sha256Bytes(data)
	if pin != "" && sum != pin {
		return nil, fmt.Errorf("%s: %w: the file has %s, the kernel file pins %s: update the pin or restore the file", abs, ErrChecksumMismatch, sum, pin)
	}
	if bytes.HasPrefix(data, []byte("\x7fELF")) {
		entry, ok, err := pvhEntry(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", abs, err)
		}
		if !ok {
			return nil, fmt.Errorf("%s: %w: QEMU cannot boot this ELF with -kernel; give the bzImage (arch/x86/boot/bzImage) instead", abs, ErrNoPVH)
		}
		fmt.Fprintf(progress, "%s: ELF kernel with PVH entry %#x, used as is\n", abs, entry)
		return &Image{
			Name:    name,
			Release: bannerRelease(data),
			Vmlinux: abs,
			PVH:     true,
			Config:  siblingConfig(abs, ""),
			SHA256:  sum,
		}, nil
	}
	h, err := ParseBzImage(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; give a bzImage (arch/x86/boot/bzImage, /boot/vmlinuz-*) or an ELF vmlinux with a PVH note", abs, err)
	}
	_, dir, unlock, err := f.lockEntry(name, sum)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if im, ok := f.cached(dir, func(m *manifest) bool { return m.SourcePath == abs && m.SourceSHA == sum }); ok {
		// The source file itself was hashed above: it is the one the entry was made from.
		im.Config = siblingConfig(abs, im.Release)
		return im, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	m := &manifest{
		Name:       name,
		Source:     SourceFile,
		SourcePath: abs,
		SourceSHA:  sum,
		Release:    h.Release(),
		Files:      map[string]string{},
	}
	if err := deriveVmlinux(progress, dir, data, m); err != nil {
		return nil, err
	}
	if err := writeManifest(dir, m); err != nil {
		return nil, err
	}
	im := imageFromManifest(dir, m)
	im.Config = siblingConfig(abs, im.Release)
	return im, nil
}

// cached returns the Image of a complete, verified cache entry in dir that
// matches. An entry that fails verification is reported and left for the
// caller to replace.
func (f *Fetcher) cached(dir string, matches func(*manifest) bool) (*Image, bool) {
	progress := f.progress()
	m, err := readManifest(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	if err != nil {
		fmt.Fprintf(progress, "cache entry %s unreadable (%v): rebuilding it\n", dir, err)
		return nil, false
	}
	if !matches(m) {
		fmt.Fprintf(progress, "cache entry %s was made for another pin: rebuilding it\n", dir)
		return nil, false
	}
	start := time.Now()
	if err := m.verify(dir); err != nil {
		fmt.Fprintf(progress, "cache entry %s failed verification: %v: discarding it and rebuilding\n", dir, err)
		return nil, false
	}
	fmt.Fprintf(progress, "cache hit %s: verified sha256 of %d files in %s\n", filepath.Base(dir), len(m.Files), time.Since(start).Round(time.Millisecond))
	im := imageFromManifest(dir, m)
	im.CacheHit = true
	return im, true
}

// siblingConfig finds the config of a kernel on disk: config-<release> next
// to vmlinuz-<release>, or the .config of a kernel build tree.
func siblingConfig(path, release string) string {
	dir, base := filepath.Dir(path), filepath.Base(path)
	var cands []string
	if r, ok := strings.CutPrefix(base, "vmlinuz-"); ok {
		cands = append(cands, filepath.Join(dir, "config-"+r))
	}
	if release != "" {
		cands = append(cands, filepath.Join(dir, "config-"+release))
	}
	if strings.HasSuffix(path, filepath.Join("arch", "x86", "boot", "bzImage")) {
		cands = append(cands, filepath.Join(dir, "..", "..", "..", ".config"))
	}
	if base == "vmlinux" {
		cands = append(cands, filepath.Join(dir, ".config"))
	}
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
			return filepath.Clean(c)
		}
	}
	return ""
}

// bannerRelease finds the release in the "Linux version <release> (" banner
// of an uncompressed kernel.
func bannerRelease(data []byte) string {
	const banner = "Linux version "
	for off := 0; ; {
		i := bytes.Index(data[off:], []byte(banner))
		if i < 0 {
			return ""
		}
		s := data[off+i+len(banner):]
		if j := bytes.IndexAny(s, " \x00\n"); j > 0 && j < 128 {
			if r := string(s[:j]); releaseRE.MatchString(r) {
				return r
			}
		}
		off += i + len(banner)
	}
}
