package kernels

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz/lzma"
)

var (
	// ErrNotKernel means a file is neither a bzImage nor an x86-64 ELF kernel.
	ErrNotKernel = errors.New("not an x86 kernel image (neither a bzImage nor an x86-64 ELF)")
	// ErrUnsupportedCompression means the bzImage payload uses a compression
	// this package cannot decompress (lzo, or an unknown one).
	ErrUnsupportedCompression = errors.New("unsupported bzImage payload compression")
	// ErrNoPVH means an ELF kernel lacks the Xen PVH entry note, so QEMU
	// cannot boot it directly.
	ErrNoPVH = errors.New("ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)")
)

// BzHeader is what this package reads from a bzImage's setup header.
type BzHeader struct {
	Protocol      uint16 // boot protocol version, e.g. 0x020f
	SetupSects    int    // setup sectors (0 means 4)
	PayloadOffset int    // payload offset in the file
	PayloadLength int    // payload length in bytes
	KernelVersion string // the kernel_version string, "" if absent
	Compression   string // "gzip", "xz", "zstd", "lz4", "bzip2", "lzma", "lzo" or "unknown"
}

// Release returns the first word of the kernel_version string, which is
// the kernel release ("6.1.0-57-cloud-amd64").
func (h *BzHeader) Release() string {
	f := strings.Fields(h.KernelVersion)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// ParseBzImage reads the setup header of a bzImage. It wraps ErrNotKernel
// when the data is not a bzImage of boot protocol 2.08 or later.
func ParseBzImage(bz []byte) (*BzHeader, error) {
	if len(bz) < 0x250 {
		return nil, fmt.Errorf("%w: %d bytes is too short for a bzImage", ErrNotKernel, len(bz))
	}
	if string(bz[0x202:0x206]) != "HdrS" {
		return nil, fmt.Errorf("%w: no \"HdrS\" magic at 0x202", ErrNotKernel)
	}
	h := &BzHeader{Protocol: binary.LittleEndian.Uint16(bz[0x206:])}
	if h.Protocol < 0x0208 {
		return nil, fmt.Errorf("%w: boot protocol %d.%02d is older than 2.08 (no payload fields)", ErrNotKernel, h.Protocol>>8, h.Protocol&0xff)
	}
	h.SetupSects = int(bz[0x1f1])
	if h.SetupSects == 0 {
		h.SetupSects = 4
	}
	setup := (h.SetupSects + 1) * 512
	off := int64(setup) + int64(binary.LittleEndian.Uint32(bz[0x248:]))
	n := int64(binary.LittleEndian.Uint32(bz[0x24c:]))
	if n == 0 || off+n > int64(len(bz)) {
		return nil, fmt.Errorf("%w: payload [%d, +%d) lies outside the %d-byte file", ErrNotKernel, off, n, len(bz))
	}
	h.PayloadOffset, h.PayloadLength = int(off), int(n)
	if p := int(binary.LittleEndian.Uint16(bz[0x20e:])); p != 0 && p+0x200 < len(bz) && p+0x200 < setup {
		s := bz[p+0x200:]
		if i := bytes.IndexByte(s, 0); i >= 0 && i < 512 {
			h.KernelVersion = string(s[:i])
		}
	}
	h.Compression = detectCompression(bz[off : off+n])
	return h, nil
}

// detectCompression names the compression of a kernel payload by its magic.
func detectCompression(p []byte) string {
	switch {
	case bytes.HasPrefix(p, []byte{0x1f, 0x8b}):
		return "gzip"
	case bytes.HasPrefix(p, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return "xz"
	case bytes.HasPrefix(p, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd"
	case bytes.HasPrefix(p, []byte{0x02, 0x21, 0x4c, 0x18}):
		return "lz4"
	case bytes.HasPrefix(p, []byte("BZh")):
		return "bzip2"
	case bytes.HasPrefix(p, []byte{0x89, 'L', 'Z', 'O'}):
		return "lzo"
	case len(p) >= 13 && p[0] == 0x5d && p[1] == 0 && p[2] == 0:
		return "lzma"
	}
	return "unknown"
}

// ExtractVmlinux returns the uncompressed ELF kernel inside a bzImage,
// trimmed to the end of the ELF (the payload may carry relocations after it).
func ExtractVmlinux(bz []byte) ([]byte, error) {
	h, err := ParseBzImage(bz)
	if err != nil {
		return nil, err
	}
	out, err := decompressPayload(h.Compression, bz[h.PayloadOffset:h.PayloadOffset+h.PayloadLength])
	if err != nil {
		return nil, err
	}
	return trimELF(out)
}

// maxVmlinux bounds the decompressed size of a kernel payload.
const maxVmlinux = 1 << 30

// copyCapped copies r to w, failing past maxVmlinux bytes.
func copyCapped(w io.Writer, r io.Reader) error {
	n, err := io.CopyN(w, r, maxVmlinux+1)
	if err == io.EOF {
		return nil
	}
	if err == nil && n > maxVmlinux {
		return fmt.Errorf("decompresses to more than %d bytes: not a kernel", maxVmlinux)
	}
	return err
}

// decompressPayload decompresses a kernel payload. Every format but gzip is
// followed by a 4-byte little-endian uncompressed size (the kernel's
// "*_with_size" rules); it is used as a size hint and otherwise ignored.
func decompressPayload(format string, p []byte) ([]byte, error) {
	hint := 0
	body := p
	if format != "gzip" && len(p) > 8 {
		if n := int(binary.LittleEndian.Uint32(p[len(p)-4:])); n > 0 && n < 256<<20 {
			hint = n
		}
		body = p[:len(p)-4]
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(hint, 4*len(p))))
	var err error
	switch format {
	case "gzip":
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(p)); err == nil {
			zr.Multistream(false)
			err = copyCapped(buf, zr)
		}
	case "xz":
		err = decodeXZ(buf, body)
		if err != nil && len(body) != len(p) {
			// Maybe there was no size trailer after all.
			buf.Reset()
			if err2 := decodeXZ(buf, p); err2 == nil {
				err = nil
			}
		}
	case "zstd":
		var d *zstd.Decoder
		d, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxVmlinux))
		if err == nil {
			var out []byte
			out, err = d.DecodeAll(body, buf.Bytes())
			d.Close()
			if err != nil && len(body) != len(p) {
				out, err = decodeZstdFirstFrame(p)
			}
			buf = bytes.NewBuffer(out)
		}
	case "lz4":
		err = decodeLZ4Legacy(buf, p)
	case "bzip2":
		err = copyCapped(buf, bzip2.NewReader(bytes.NewReader(body)))
	case "lzma":
		var r *lzma.Reader
		if r, err = lzma.NewReader(bytes.NewReader(body)); err == nil {
			err = copyCapped(buf, r)
		}
	default:
		return nil, fmt.Errorf("%w: %s (the kernel was built with CONFIG_KERNEL_%s; build it with lz4, gzip, zstd or xz)", ErrUnsupportedCompression, format, strings.ToUpper(format))
	}
	if err != nil {
		return nil, fmt.Errorf("decompressing %s payload: %w", format, err)
	}
	return buf.Bytes(), nil
}

// decodeZstdFirstFrame decodes only the first zstd frame of p, ignoring
// whatever follows it.
func decodeZstdFirstFrame(p []byte) ([]byte, error) {
	d, err := zstd.NewReader(bytes.NewReader(p), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxVmlinux))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var out bytes.Buffer
	err = copyCapped(&out, d)
	if err != nil && out.Len() > 0 && out.Len() <= maxVmlinux {
		err = nil // trailing non-frame bytes after a complete frame
	}
	return out.Bytes(), err
}

// trimELF checks that data starts with an x86-64 ELF and cuts it after the
// last byte any header, segment or section refers to.
func trimELF(data []byte) ([]byte, error) {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: decompressed payload is not an ELF: %v", ErrNotKernel, err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("%w: decompressed payload is a %v %v ELF, want ELFCLASS64 EM_X86_64", ErrNotKernel, f.Class, f.Machine)
	}
	end := uint64(64) // ELF64 header
	bump := func(off, n uint64) {
		if off+n > end {
			end = off + n
		}
	}
	var eh elf.Header64
	if err := binary.Read(bytes.NewReader(data), binary.LittleEndian, &eh); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotKernel, err)
	}
	bump(eh.Phoff, uint64(eh.Phnum)*uint64(eh.Phentsize))
	bump(eh.Shoff, uint64(eh.Shnum)*uint64(eh.Shentsize))
	for _, p := range f.Progs {
		bump(p.Off, p.Filesz)
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS && s.Type != elf.SHT_NULL {
			bump(s.Offset, s.FileSize)
		}
	}
	if end > uint64(len(data)) {
		return nil, fmt.Errorf("%w: ELF is truncated: it refers to byte %d of %d", ErrNotKernel, end, len(data))
	}
	return data[:end], nil
}

// HasPVH reports whether an x86-64 ELF kernel carries the Xen PVH entry
// note (name "Xen", type 18, XEN_ELFNOTE_PHYS32_ENTRY), which QEMU needs to
// boot it with -kernel.
func HasPVH(elfBytes []byte) (bool, error) {
	_, ok, err := pvhEntry(elfBytes)
	return ok, err
}

const xenElfnotePhys32Entry = 18

// pvhEntry returns the PVH entry point of an ELF kernel.
func pvhEntry(elfBytes []byte) (uint64, bool, error) {
	f, err := elf.NewFile(bytes.NewReader(elfBytes))
	if err != nil {
		return 0, false, fmt.Errorf("%w: %v", ErrNotKernel, err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return 0, false, fmt.Errorf("%w: a %v %v ELF, want ELFCLASS64 EM_X86_64", ErrNotKernel, f.Class, f.Machine)
	}
	var blobs [][]byte
	for _, p := range f.Progs {
		if p.Type == elf.PT_NOTE {
			if b, err := io.ReadAll(p.Open()); err == nil {
				blobs = append(blobs, b)
			}
		}
	}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_NOTE {
			if b, err := s.Data(); err == nil {
				blobs = append(blobs, b)
			}
		}
	}
	for _, b := range blobs {
		if e, ok := findXenNote(b, f.ByteOrder); ok {
			return e, true, nil
		}
	}
	return 0, false, nil
}

// findXenNote walks ELF notes (4-byte aligned) for Xen's PHYS32_ENTRY.
func findXenNote(b []byte, bo binary.ByteOrder) (uint64, bool) {
	align := func(n uint64) uint64 { return (n + 3) &^ 3 }
	for len(b) >= 12 {
		namesz := uint64(bo.Uint32(b[0:]))
		descsz := uint64(bo.Uint32(b[4:]))
		typ := bo.Uint32(b[8:])
		b = b[12:]
		if align(namesz) > uint64(len(b)) {
			return 0, false
		}
		name := b[:namesz]
		b = b[align(namesz):]
		if align(descsz) > uint64(len(b)) && descsz > uint64(len(b)) {
			return 0, false
		}
		desc := b[:descsz]
		if align(descsz) <= uint64(len(b)) {
			b = b[align(descsz):]
		} else {
			b = nil
		}
		if string(bytes.TrimRight(name, "\x00")) == "Xen" && typ == xenElfnotePhys32Entry {
			switch len(desc) {
			case 4:
				return uint64(bo.Uint32(desc)), true
			case 8:
				return bo.Uint64(desc), true
			default:
				return 0, true
			}
		}
	}
	return 0, false
}
