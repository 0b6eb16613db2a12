package kernels

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// The kernel compresses with "xz --check=crc32 --x86 --lzma2": an xz
// container whose blocks chain the x86 BCJ filter and LZMA2.
// github.com/ulikunitz/xz reads LZMA2 but not BCJ filters, so decodeXZ walks
// the container itself (using the index to find each block), decodes LZMA2
// with ulikunitz/xz/lzma, undoes the BCJ filter and verifies each block's
// check.

const (
	xzFilterX86   = 0x04
	xzFilterLZMA2 = 0x21
)

var crc64Table = crc64.MakeTable(crc64.ECMA)

// decodeXZ decodes the single xz stream in p (trailing zero padding allowed)
// into w.
func decodeXZ(w *bytes.Buffer, p []byte) error {
	for len(p) >= 12 && bytes.Equal(p[len(p)-4:], []byte{0, 0, 0, 0}) {
		p = p[:len(p)-4] // stream padding
	}
	if len(p) < 24 || !bytes.HasPrefix(p, []byte{0xfd, '7', 'z', 'X', 'Z', 0}) {
		return errors.New("xz: no stream header")
	}
	flags := p[6:8]
	if crc32.ChecksumIEEE(flags) != binary.LittleEndian.Uint32(p[8:12]) {
		return errors.New("xz: stream header CRC mismatch")
	}
	foot := p[len(p)-12:]
	if string(foot[10:12]) != "YZ" {
		return errors.New("xz: no stream footer (trailing data after the stream?)")
	}
	if !bytes.Equal(foot[8:10], flags) {
		return errors.New("xz: stream flags differ between header and footer")
	}
	checkSize, newCheck, err := xzCheck(flags[1] & 0x0f)
	if err != nil {
		return err
	}
	indexSize := (int(binary.LittleEndian.Uint32(foot[4:8])) + 1) * 4
	indexOff := len(p) - 12 - indexSize
	if indexOff < 12 {
		return errors.New("xz: bad index size")
	}
	blocks, err := parseXZIndex(p[indexOff : len(p)-12])
	if err != nil {
		return err
	}
	off := 12
	for i, b := range blocks {
		if b.unpadded > uint64(indexOff) {
			return fmt.Errorf("xz: block %d overruns the index", i)
		}
		end := off + (int(b.unpadded)+3)&^3
		if end > indexOff {
			return fmt.Errorf("xz: block %d overruns the index", i)
		}
		start := w.Len()
		if err := decodeXZBlock(w, p[off:end], int(b.unpadded), checkSize, newCheck, b.uncompressed); err != nil {
			return fmt.Errorf("xz: block %d: %w", i, err)
		}
		if got := uint64(w.Len() - start); got != b.uncompressed {
			return fmt.Errorf("xz: block %d: %d bytes out, index says %d", i, got, b.uncompressed)
		}
		off = end
	}
	if off != indexOff {
		return errors.New("xz: blocks do not end where the index starts")
	}
	return nil
}

func xzCheck(id byte) (int, func() hash.Hash, error) {
	switch id {
	case 0:
		return 0, nil, nil
	case 1:
		return 4, func() hash.Hash { return crc32.NewIEEE() }, nil
	case 4:
		return 8, func() hash.Hash { return crc64.New(crc64Table) }, nil
	case 10:
		return 32, sha256.New, nil
	}
	return 0, nil, fmt.Errorf("xz: unsupported check type %d", id)
}

type xzIndexRecord struct{ unpadded, uncompressed uint64 }

func parseXZIndex(ix []byte) ([]xzIndexRecord, error) {
	if len(ix) < 8 || ix[0] != 0 {
		return nil, errors.New("xz: bad index indicator")
	}
	if crc32.ChecksumIEEE(ix[:len(ix)-4]) != binary.LittleEndian.Uint32(ix[len(ix)-4:]) {
		return nil, errors.New("xz: index CRC mismatch")
	}
	r := bytes.NewReader(ix[1 : len(ix)-4])
	n, err := binary.ReadUvarint(r)
	if err != nil || n > 1<<20 {
		return nil, errors.New("xz: bad index record count")
	}
	recs := make([]xzIndexRecord, n)
	for i := range recs {
		if recs[i].unpadded, err = binary.ReadUvarint(r); err != nil {
			return nil, errors.New("xz: bad index record")
		}
		if recs[i].uncompressed, err = binary.ReadUvarint(r); err != nil {
			return nil, errors.New("xz: bad index record")
		}
	}
	return recs, nil
}

// decodeXZBlock decodes one block: blk is header, data, padding and check;
// unpadded is its length without the padding.
func decodeXZBlock(w *bytes.Buffer, blk []byte, unpadded, checkSize int, newCheck func() hash.Hash, size uint64) error {
	if len(blk) < 1 || blk[0] == 0 {
		return errors.New("bad block header")
	}
	hsize := (int(blk[0]) + 1) * 4
	if hsize > unpadded-checkSize {
		return errors.New("block header overruns block")
	}
	hdr := blk[:hsize]
	if crc32.ChecksumIEEE(hdr[:hsize-4]) != binary.LittleEndian.Uint32(hdr[hsize-4:]) {
		return errors.New("block header CRC mismatch")
	}
	bflags := hdr[1]
	r := bytes.NewReader(hdr[2 : hsize-4])
	if bflags&0x40 != 0 {
		if _, err := binary.ReadUvarint(r); err != nil {
			return err
		}
	}
	if bflags&0x80 != 0 {
		if _, err := binary.ReadUvarint(r); err != nil {
			return err
		}
	}
	x86, dictCap := false, int64(-1)
	for i := 0; i < int(bflags&3)+1; i++ {
		id, err := binary.ReadUvarint(r)
		if err != nil {
			return err
		}
		psize, err := binary.ReadUvarint(r)
		if err != nil || psize > uint64(r.Len()) {
			return errors.New("bad filter flags")
		}
		props := make([]byte, psize)
		_, _ = io.ReadFull(r, props)
		switch {
		case id == xzFilterX86 && i == 0 && psize == 0:
			x86 = true
		case id == xzFilterX86 && psize != 0:
			return errors.New("x86 BCJ filter with a start offset is not supported")
		case id == xzFilterLZMA2 && psize == 1:
			if dictCap, err = lzma.DecodeDictCap(props[0]); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unsupported filter 0x%x in position %d", id, i)
		}
	}
	if dictCap < 0 {
		return errors.New("the last filter is not LZMA2")
	}
	data := blk[hsize : unpadded-checkSize]
	dc := int(min(max(dictCap, lzma.MinDictCap), 1<<30))
	lr, err := lzma.Reader2Config{DictCap: dc}.NewReader2(bytes.NewReader(data))
	if err != nil {
		return err
	}
	start := w.Len()
	w.Grow(int(min(size, 256<<20)))
	if err := copyCapped(w, lr); err != nil {
		return err
	}
	out := w.Bytes()[start:]
	if x86 {
		bcjX86Decode(out)
	}
	if newCheck != nil {
		h := newCheck()
		h.Write(out)
		sum := h.Sum(nil)
		want := blk[len(blk)-checkSize:]
		if checkSize != 32 {
			// CRC32 and CRC64 are stored little-endian; Sum is big-endian.
			for i, j := 0, len(sum)-1; i < j; i, j = i+1, j-1 {
				sum[i], sum[j] = sum[j], sum[i]
			}
		}
		if !bytes.Equal(sum, want) {
			return errors.New("block check mismatch (corrupt data)")
		}
	}
	return nil
}

// bcjX86Decode undoes the x86 BCJ filter over a whole block in place,
// starting at offset 0 (after xz-embedded's bcj_x86).
func bcjX86Decode(buf []byte) {
	maskToAllowed := [8]bool{true, true, true, false, true, false, false, false}
	maskToBitNum := [8]uint32{0, 1, 2, 2, 3, 3, 3, 3}
	test := func(b byte) bool { return b == 0x00 || b == 0xff }
	if len(buf) <= 4 {
		return
	}
	size := len(buf) - 4
	prevPos := -1
	var prevMask uint32
	for i := 0; i < size; i++ {
		if buf[i]&0xfe != 0xe8 {
			continue
		}
		d := i - prevPos
		if d > 3 {
			prevMask = 0
		} else {
			prevMask = (prevMask << uint(d-1)) & 7
			if prevMask != 0 {
				b := buf[i+4-int(maskToBitNum[prevMask])]
				if !maskToAllowed[prevMask] || test(b) {
					prevPos = i
					prevMask = prevMask<<1 | 1
					continue
				}
			}
		}
		prevPos = i
		if test(buf[i+4]) {
			src := binary.LittleEndian.Uint32(buf[i+1:])
			var dest uint32
			for {
				dest = src - uint32(i+5)
				if prevMask == 0 {
					break
				}
				j := maskToBitNum[prevMask] * 8
				b := byte(dest >> (24 - j))
				if !test(b) {
					break
				}
				src = dest ^ (1<<(32-j) - 1)
			}
			dest &= 0x01ffffff
			dest |= 0 - (dest & 0x01000000)
			binary.LittleEndian.PutUint32(buf[i+1:], dest)
			i += 4
		} else {
			prevMask = prevMask<<1 | 1
		}
	}
}
