package kernels

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pierrec/lz4/v4"
)

const (
	lz4LegacyMagic    = 0x184c2102
	lz4LegacyBlockMax = 8 << 20 // each block decompresses to at most 8 MiB
)

// decodeLZ4Legacy decodes the LZ4 legacy frame format the kernel uses
// (lz4 -l): the magic, then blocks of [u32 LE compressed size][data]. The
// stream ends at EOF, or at a "size" too big to be a block, which is how the
// kernel's trailing 4-byte uncompressed size is skipped. A repeated magic
// (concatenated frames) is accepted.
func decodeLZ4Legacy(w *bytes.Buffer, p []byte) error {
	if len(p) < 4 || binary.LittleEndian.Uint32(p) != lz4LegacyMagic {
		return errors.New("lz4: no legacy frame magic")
	}
	p = p[4:]
	block := make([]byte, lz4LegacyBlockMax)
	bound := lz4.CompressBlockBound(lz4LegacyBlockMax)
	for nblocks := 0; len(p) >= 4; {
		n := binary.LittleEndian.Uint32(p)
		if n == lz4LegacyMagic {
			p = p[4:]
			continue
		}
		if n == 0 || int64(n) > int64(bound) || int64(n) > int64(len(p)-4) {
			if nblocks == 0 {
				return fmt.Errorf("lz4: first block size %d is invalid", n)
			}
			break // trailer (the kernel's uncompressed size) or padding
		}
		m, err := lz4.UncompressBlock(p[4:4+n], block)
		if err != nil {
			return fmt.Errorf("lz4: block %d: %w", nblocks, err)
		}
		if w.Len()+m > maxVmlinux {
			return fmt.Errorf("lz4: decompresses to more than %d bytes: not a kernel", maxVmlinux)
		}
		w.Write(block[:m])
		p = p[4+n:]
		nblocks++
	}
	return nil
}
