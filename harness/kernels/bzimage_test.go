package kernels

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

const testRelease = "6.9.9-test"

// buildELF returns a small x86-64 ELF executable shaped like a stripped
// vmlinux: a PT_LOAD over the whole file, a PT_NOTE, and a body of x86-ish
// bytes (many E8/E9 call opcodes, so the xz BCJ filter has work to do) with
// a Linux banner. With pvh it carries Xen's PHYS32_ENTRY note, else only a
// GNU note.
func buildELF(pvh bool, bodySize int) []byte {
	const (
		ehsize, phentsize, phnum = 64, 56, 2
		entry                    = 0x1000000
		pvhEntryAddr             = 0x1000850
	)
	var note bytes.Buffer
	addNote := func(name string, typ uint32, desc []byte) {
		nm := append([]byte(name), 0)
		binary.Write(&note, binary.LittleEndian, [3]uint32{uint32(len(nm)), uint32(len(desc)), typ})
		note.Write(nm)
		note.Write(make([]byte, (4-len(nm)%4)%4))
		note.Write(desc)
		note.Write(make([]byte, (4-len(desc)%4)%4))
	}
	addNote("GNU", 3, bytes.Repeat([]byte{0xab}, 20)) // build ID
	if pvh {
		addNote("Xen", xenElfnotePhys32Entry, binary.LittleEndian.AppendUint32(nil, pvhEntryAddr))
	} else {
		addNote("Xen", 1, []byte("linux\x00\x00\x00")) // another Xen note type
	}
	noteOff := ehsize + phentsize*phnum
	bodyOff := noteOff + note.Len()

	rng := rand.New(rand.NewPCG(1, 2))
	body := []byte("Linux version " + testRelease + " (test@example) #1 SMP\x00")
	for len(body) < bodySize {
		switch rng.IntN(6) {
		case 0: // call rel32 to a nearby target
			body = append(body, 0xe8)
			body = binary.LittleEndian.AppendUint32(body, uint32(int32(rng.IntN(1<<16)-1<<15)))
		case 1:
			body = append(body, 0xe9, byte(rng.IntN(256)), 0xff, 0xff, 0xff)
		default:
			body = append(body, []byte("\x48\x89\xe5\x55\x53\x41\x54")[:1+rng.IntN(7)]...)
		}
	}
	total := bodyOff + len(body)

	var b bytes.Buffer
	ident := [16]byte{0x7f, 'E', 'L', 'F', 2, 1, 1}
	b.Write(ident[:])
	binary.Write(&b, binary.LittleEndian, struct {
		Type, Machine              uint16
		Version                    uint32
		Entry, Phoff, Shoff        uint64
		Flags                      uint32
		Ehsize, Phentsize, Phnum   uint16
		Shentsize, Shnum, Shstrndx uint16
	}{2, 62, 1, entry, ehsize, 0, 0, ehsize, phentsize, phnum, 64, 0, 0})
	type phdr struct {
		Type, Flags                             uint32
		Off, Vaddr, Paddr, Filesz, Memsz, Align uint64
	}
	binary.Write(&b, binary.LittleEndian, phdr{1, 5, 0, entry, entry, uint64(total), uint64(total), 0x1000})
	binary.Write(&b, binary.LittleEndian, phdr{4, 4, uint64(noteOff), 0, 0, uint64(note.Len()), uint64(note.Len()), 4})
	b.Write(note.Bytes())
	b.Write(body)
	return b.Bytes()
}

// buildBzImage wraps a compressed payload in a minimal bzImage: one setup
// sector after the boot sector, a 512-byte stand-in for the decompressor,
// the payload, then some trailing bytes.
func buildBzImage(payload []byte, protocol uint16) []byte {
	const setupSects = 1
	setup := make([]byte, (setupSects+1)*512)
	setup[0x1f1] = setupSects
	setup[0x1fe], setup[0x1ff] = 0x55, 0xaa
	copy(setup[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(setup[0x206:], protocol)
	const verOff = 0x300
	copy(setup[verOff:], testRelease+" (test@example) #1 SMP\x00")
	binary.LittleEndian.PutUint16(setup[0x20e:], verOff-0x200)
	binary.LittleEndian.PutUint32(setup[0x248:], 512)
	binary.LittleEndian.PutUint32(setup[0x24c:], uint32(len(payload)))
	out := append(setup, bytes.Repeat([]byte{0x90}, 512)...)
	out = append(out, payload...)
	return append(out, "trailing-bytes--"...)
}

// withSize appends the kernel's 4-byte uncompressed-size trailer.
func withSize(p []byte, n int) []byte { return binary.LittleEndian.AppendUint32(p, uint32(n)) }

// lz4Legacy compresses like "lz4 -l", in blocks of chunk bytes.
func lz4Legacy(t testing.TB, data []byte, chunk int) []byte {
	out := binary.LittleEndian.AppendUint32(nil, lz4LegacyMagic)
	buf := make([]byte, lz4.CompressBlockBound(chunk))
	for len(data) > 0 {
		n := min(chunk, len(data))
		c, err := lz4.CompressBlock(data[:n], buf, nil)
		require.NoError(t, err)
		require.NotZero(t, c, "test data must be compressible")
		out = binary.LittleEndian.AppendUint32(out, uint32(c))
		out = append(out, buf[:c]...)
		data = data[n:]
	}
	return out
}

func compressWithTool(t *testing.T, data []byte, tool string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not installed: %v", tool, err)
	}
	cmd := exec.Command(tool, args...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	require.NoError(t, err)
	return out
}

func TestExtractVmlinux(t *testing.T) {
	relocs := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 300) // what vmlinux.bin.all appends
	type compressor func(t *testing.T, in []byte) []byte
	cases := []struct {
		name string
		want string // detected compression
		comp compressor
	}{
		{"gzip", "gzip", func(t *testing.T, in []byte) []byte {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(in)
			require.NoError(t, zw.Close())
			return b.Bytes()
		}},
		{"xz lzma2 only", "xz", func(t *testing.T, in []byte) []byte {
			var b bytes.Buffer
			zw, err := xz.WriterConfig{CheckSum: xz.CRC32}.NewWriter(&b)
			require.NoError(t, err)
			zw.Write(in)
			require.NoError(t, zw.Close())
			return withSize(b.Bytes(), len(in))
		}},
		{"xz x86 BCJ as the kernel builds it", "xz", func(t *testing.T, in []byte) []byte {
			return withSize(compressWithTool(t, in, "xz", "--check=crc32", "--x86", "--lzma2=preset=6,dict=32MiB", "-c"), len(in))
		}},
		{"xz x86 BCJ multi-block sha256", "xz", func(t *testing.T, in []byte) []byte {
			return withSize(compressWithTool(t, in, "xz", "--check=sha256", "--x86", "--lzma2=preset=1", "--block-size=65536", "-c"), len(in))
		}},
		{"zstd", "zstd", func(t *testing.T, in []byte) []byte {
			enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
			require.NoError(t, err)
			return withSize(enc.EncodeAll(in, nil), len(in))
		}},
		{"lz4 legacy", "lz4", func(t *testing.T, in []byte) []byte {
			return withSize(lz4Legacy(t, in, lz4LegacyBlockMax), len(in))
		}},
		{"lz4 legacy many blocks, no size trailer", "lz4", func(t *testing.T, in []byte) []byte {
			return lz4Legacy(t, in, 4096)
		}},
		{"lz4 legacy by pierrec/lz4 writer", "lz4", func(t *testing.T, in []byte) []byte {
			var b bytes.Buffer
			zw := lz4.NewWriter(&b)
			require.NoError(t, zw.Apply(lz4.LegacyOption(true)))
			zw.Write(in)
			require.NoError(t, zw.Close())
			return withSize(b.Bytes(), len(in))
		}},
		{"lzma", "lzma", func(t *testing.T, in []byte) []byte {
			var b bytes.Buffer
			zw, err := lzma.WriterConfig{EOSMarker: true, Size: -1}.NewWriter(&b)
			require.NoError(t, err)
			zw.Write(in)
			require.NoError(t, zw.Close())
			return withSize(b.Bytes(), len(in))
		}},
		{"bzip2", "bzip2", func(t *testing.T, in []byte) []byte {
			return withSize(compressWithTool(t, in, "bzip2", "-9", "-c"), len(in))
		}},
	}
	for _, pvh := range []bool{true, false} {
		elfBytes := buildELF(pvh, 200_000)
		payload := append(append([]byte{}, elfBytes...), relocs...)
		for _, tc := range cases {
			t.Run(tc.name+map[bool]string{true: " pvh", false: " no-pvh"}[pvh], func(t *testing.T) {
				bz := buildBzImage(tc.comp(t, payload), 0x020f)
				h, err := ParseBzImage(bz)
				require.NoError(t, err)
				assert.Equal(t, tc.want, h.Compression)
				assert.Equal(t, testRelease, h.Release())

				vm, err := ExtractVmlinux(bz)
				require.NoError(t, err)
				assert.True(t, bytes.Equal(elfBytes, vm), "vmlinux is the ELF with the trailing relocations cut (got %d bytes, want %d)", len(vm), len(elfBytes))
				got, err := HasPVH(vm)
				require.NoError(t, err)
				assert.Equal(t, pvh, got)
			})
		}
	}
}

func TestBcjX86RoundTripAgainstXZ(t *testing.T) {
	// xz's raw x86 filter alone (no LZMA2 reordering) lets us compare the
	// BCJ decoder byte for byte on ELF-like data.
	in := buildELF(true, 300_000)
	raw := compressWithTool(t, in, "xz", "--format=raw", "--x86", "--lzma2=preset=0", "-c")
	// The raw stream is LZMA2 over BCJ-encoded data: decode LZMA2, then BCJ.
	var out bytes.Buffer
	r2, err := lzma.Reader2Config{DictCap: 8 << 20}.NewReader2(bytes.NewReader(raw))
	require.NoError(t, err)
	_, err = out.ReadFrom(r2)
	require.NoError(t, err)
	filtered := out.Bytes()
	assert.False(t, bytes.Equal(filtered, in), "the x86 filter changed some call targets")
	bcjX86Decode(filtered)
	assert.True(t, bytes.Equal(filtered, in))
}

func TestParseBzImageErrors(t *testing.T) {
	good := buildBzImage(withSize(lz4Legacy(t, buildELF(true, 1000), 4096), 1000), 0x020f)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"text", bytes.Repeat([]byte("hello, world\n"), 100), `no "HdrS" magic`},
		{"old protocol", buildBzImage([]byte{1, 2, 3}, 0x0206), "boot protocol 2.06 is older than 2.08"},
		{"payload outside", func() []byte {
			b := append([]byte{}, good...)
			binary.LittleEndian.PutUint32(b[0x24c:], 1<<30)
			return b
		}(), "outside"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ExtractVmlinux(tc.data)
			require.ErrorIs(t, err, ErrNotKernel)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	t.Run("lzo", func(t *testing.T) {
		_, err := ExtractVmlinux(buildBzImage([]byte("\x89LZO\x00\r\n\x1a\nxxxxxxxx"), 0x020f))
		require.ErrorIs(t, err, ErrUnsupportedCompression)
		assert.Contains(t, err.Error(), "CONFIG_KERNEL_LZO")
	})
	t.Run("payload is not an ELF", func(t *testing.T) {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(bytes.Repeat([]byte("not an elf "), 1000))
		zw.Close()
		_, err := ExtractVmlinux(buildBzImage(b.Bytes(), 0x020f))
		require.ErrorIs(t, err, ErrNotKernel)
		assert.Contains(t, err.Error(), "not an ELF")
	})
	t.Run("corrupt payload", func(t *testing.T) {
		p := lz4Legacy(t, buildELF(true, 100_000), 8192)
		for i := 100; i < len(p); i += 97 {
			p[i] ^= 0x55
		}
		_, err := ExtractVmlinux(buildBzImage(p, 0x020f))
		require.Error(t, err)
	})
}

func TestImageFromFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o644))
		return p
	}
	pvhELF := buildELF(true, 50_000)
	bzPath := write("vmlinuz-"+testRelease, buildBzImage(withSize(lz4Legacy(t, pvhELF, 1<<20), len(pvhELF)), 0x020f))
	cfgPath := write("config-"+testRelease, []byte("CONFIG_PVH=y\n"))

	im, err := ImageFromFile(ctx, bzPath, cache)
	require.NoError(t, err)
	assert.Equal(t, bzPath, im.BzImage)
	assert.Equal(t, testRelease, im.Release)
	assert.Equal(t, "lz4", im.Compression)
	assert.Equal(t, cfgPath, im.Config)
	assert.True(t, im.PVH)
	assert.False(t, im.CacheHit)
	require.NotEmpty(t, im.Vmlinux)
	assert.Equal(t, im.Vmlinux, im.Boot())
	vm, err := os.ReadFile(im.Vmlinux)
	require.NoError(t, err)
	assert.Equal(t, pvhELF, vm)
	sum, _, _ := sha256File(bzPath)
	assert.Equal(t, sum, im.SHA256)

	again, err := ImageFromFile(ctx, bzPath, cache)
	require.NoError(t, err)
	assert.True(t, again.CacheHit)
	assert.Equal(t, im.Vmlinux, again.Vmlinux)

	// Tampering with the cached vmlinux is detected and repaired.
	require.NoError(t, os.WriteFile(im.Vmlinux, []byte("tampered"), 0o644))
	var progress bytes.Buffer
	f := &Fetcher{CacheDir: cache, Progress: &progress}
	repaired, err := f.fromFile(ctx, "file", bzPath, "")
	require.NoError(t, err)
	assert.False(t, repaired.CacheHit)
	assert.Contains(t, progress.String(), "failed verification")
	vm, err = os.ReadFile(repaired.Vmlinux)
	require.NoError(t, err)
	assert.Equal(t, pvhELF, vm)

	// A pin that does not match.
	_, err = f.fromFile(ctx, "pinned", bzPath, sha256Bytes([]byte("other")))
	assert.ErrorIs(t, err, ErrChecksumMismatch)

	// A bzImage without a PVH note: usable, but only as a bzImage.
	plainELF := buildELF(false, 50_000)
	plain := write("bzImage", buildBzImage(withSize(lz4Legacy(t, plainELF, 1<<20), len(plainELF)), 0x020f))
	im, err = ImageFromFile(ctx, plain, cache)
	require.NoError(t, err)
	assert.Empty(t, im.Vmlinux)
	assert.False(t, im.PVH)
	assert.Contains(t, im.VmlinuxErr, "no PVH entry note")
	assert.Equal(t, plain, im.Boot())

	// An ELF vmlinux with a PVH note is used as it is.
	elfPath := write("vmlinux", pvhELF)
	im, err = ImageFromFile(ctx, elfPath, cache)
	require.NoError(t, err)
	assert.Equal(t, elfPath, im.Vmlinux)
	assert.Empty(t, im.BzImage)
	assert.Equal(t, testRelease, im.Release, "release from the Linux banner")

	// An ELF without one cannot be booted.
	_, err = ImageFromFile(ctx, write("vmlinux-nopvh", plainELF), cache)
	assert.ErrorIs(t, err, ErrNoPVH)

	// Not a kernel at all.
	_, err = ImageFromFile(ctx, write("notes.txt", bytes.Repeat([]byte("just some text\n"), 100)), cache)
	require.ErrorIs(t, err, ErrNotKernel)
	assert.Contains(t, err.Error(), "notes.txt")
	assert.Contains(t, err.Error(), "give a bzImage")

	_, err = ImageFromFile(ctx, filepath.Join(dir, "missing"), cache)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestConfigHas(t *testing.T) {
	cfg := "#\n# CONFIG_KVM_GUEST is not set\nCONFIG_PVH=y\nCONFIG_NET_NS=y\nCONFIG_VIRTIO=m\nCONFIG_LOCALVERSION=\"-cloud\"\nCONFIG_NR_CPUS=64\n"
	dir := t.TempDir()
	plain := filepath.Join(dir, "config")
	require.NoError(t, os.WriteFile(plain, []byte(cfg), 0o644))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(cfg))
	zw.Close()
	packed := filepath.Join(dir, "config.gz")
	require.NoError(t, os.WriteFile(packed, gz.Bytes(), 0o644))

	for _, p := range []string{plain, packed} {
		for key, want := range map[string]string{
			"CONFIG_PVH":       "y",
			"PVH":              "y",
			"CONFIG_VIRTIO":    "m",
			"LOCALVERSION":     "-cloud",
			"CONFIG_NR_CPUS":   "64",
			"CONFIG_KVM_GUEST": "",
			"CONFIG_NET":       "", // a prefix of CONFIG_NET_NS, not set itself
		} {
			got, err := ConfigHas(p, key)
			require.NoError(t, err)
			assert.Equal(t, want, got, "%s in %s", key, filepath.Base(p))
		}
	}
	_, err := ConfigHas(filepath.Join(dir, "missing"), "PVH")
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// FuzzExtractVmlinux checks that hostile bzImages fail cleanly (go test
// -fuzz FuzzExtractVmlinux).
func FuzzExtractVmlinux(f *testing.F) {
	elfBytes := buildELF(true, 4000)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(elfBytes)
	zw.Close()
	xzc, _ := exec.Command("sh", "-c", "printf '' | xz --x86 --check=crc32 -c").Output()
	f.Add(buildBzImage(gz.Bytes(), 0x020f))
	f.Add(buildBzImage(withSize(lz4Legacy(f, elfBytes, 1024), len(elfBytes)), 0x020f))
	f.Add(buildBzImage(withSize(xzc, 0), 0x020f))
	enc, _ := zstd.NewWriter(nil)
	f.Add(buildBzImage(withSize(enc.EncodeAll(elfBytes, nil), len(elfBytes)), 0x020f))
	f.Fuzz(func(t *testing.T, data []byte) {
		vm, err := ExtractVmlinux(data)
		if err == nil {
			if _, err := HasPVH(vm); err != nil {
				t.Fatalf("ExtractVmlinux returned a vmlinux HasPVH rejects: %v", err)
			}
		}
	})
}
