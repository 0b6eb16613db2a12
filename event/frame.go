package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"sync"
)

const magic = "cs1"

// MaxLine bounds one framed line; longer input is rejected as damaged.
const MaxLine = 4 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrDamaged marks a line that failed framing, length or checksum checks.
var ErrDamaged = errors.New("damaged event line")

// Encoder writes framed events. It is safe for concurrent use.
type Encoder struct {
	mu  sync.Mutex
	w   io.Writer
	seq int
}

// NewEncoder returns an Encoder writing to w.
func NewEncoder(w io.Writer) *Encoder { return &Encoder{w: w} }

// Encode validates, frames and writes e in a single Write.
func (enc *Encoder) Encode(e *Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", e.Type, err)
	}
	enc.mu.Lock()
	defer enc.mu.Unlock()
	line := AppendFrame(nil, enc.seq, body)
	if _, err := enc.w.Write(line); err != nil {
		return fmt.Errorf("write %s event: %w", e.Type, err)
	}
	enc.seq++
	return nil
}

// Sent is the number of events written so far.
func (enc *Encoder) Sent() int {
	enc.mu.Lock()
	defer enc.mu.Unlock()
	return enc.seq
}

// AppendFrame appends the framed line for body with sequence number seq.
func AppendFrame(dst []byte, seq int, body []byte) []byte {
	dst = append(dst, magic...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(seq), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, ' ')
	dst = fmt.Appendf(dst, "%08x", crc32.Checksum(body, castagnoli))
	dst = append(dst, ' ')
	dst = append(dst, body...)
	return append(dst, '\n')
}

// ParseFrame checks one line (without its newline) and decodes its event.
func ParseFrame(line []byte) (seq int, e *Event, err error) {
	fields := bytes.SplitN(line, []byte{' '}, 5)
	if len(fields) != 5 || string(fields[0]) != magic {
		return 0, nil, fmt.Errorf("%w: no %q frame header", ErrDamaged, magic)
	}
	seq, err = strconv.Atoi(string(fields[1]))
	if err != nil || seq < 0 {
		return 0, nil, fmt.Errorf("%w: bad sequence number %q", ErrDamaged, fields[1])
	}
	n, err := strconv.Atoi(string(fields[2]))
	if err != nil || n < 0 {
		return seq, nil, fmt.Errorf("%w: bad length %q", ErrDamaged, fields[2])
	}
	body := fields[4]
	if len(body) != n {
		return seq, nil, fmt.Errorf("%w: event %d has %d bytes, header says %d", ErrDamaged, seq, len(body), n)
	}
	want, err := strconv.ParseUint(string(fields[3]), 16, 32)
	if err != nil || len(fields[3]) != 8 {
		return seq, nil, fmt.Errorf("%w: bad checksum field %q", ErrDamaged, fields[3])
	}
	if got := crc32.Checksum(body, castagnoli); uint32(want) != got {
		return seq, nil, fmt.Errorf("%w: event %d checksum %08x, header says %08x", ErrDamaged, seq, got, want)
	}
	e = new(Event)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(e); err != nil {
		return seq, nil, fmt.Errorf("%w: event %d: %v", ErrDamaged, seq, err)
	}
	if err := e.Validate(); err != nil {
		return seq, nil, fmt.Errorf("%w: event %d: %v", ErrDamaged, seq, err)
	}
	return seq, e, nil
}

// Decoder reads framed events, skipping and counting damaged lines.
type Decoder struct {
	r       *bufio.Reader
	next    int // expected next sequence number
	Damaged int // lines rejected
	Missing int // events lost, from gaps in the sequence
	// LastErr is the last damage seen, for diagnosis.
	LastErr error
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next good event. It returns io.EOF at a clean end of
// stream and io.ErrUnexpectedEOF when the stream stops mid-line.
func (d *Decoder) Next() (*Event, error) {
	for {
		line, err := d.readLine()
		if err != nil {
			return nil, err
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			continue
		}
		seq, e, perr := ParseFrame(line)
		if perr != nil {
			d.Damaged++
			d.LastErr = perr
			continue
		}
		if seq < d.next {
			d.Damaged++
			d.LastErr = fmt.Errorf("%w: event %d repeats or goes back (expected %d)", ErrDamaged, seq, d.next)
			continue
		}
		d.Missing += seq - d.next
		d.next = seq + 1
		return e, nil
	}
}

func (d *Decoder) readLine() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := d.r.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxLine {
			// Drop the oversized line, then go on with the next one.
			d.Damaged++
			d.LastErr = fmt.Errorf("%w: line longer than %d bytes", ErrDamaged, MaxLine)
			buf = buf[:0]
			if err == nil {
				continue
			}
		} else {
			buf = append(buf, chunk...)
		}
		switch {
		case err == nil:
			return buf[:len(buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(buf) > 0 {
				d.Damaged++
				d.LastErr = fmt.Errorf("%w: stream ended inside an event", ErrDamaged)
				return nil, io.ErrUnexpectedEOF
			}
			return nil, io.EOF
		default:
			return nil, err
		}
	}
}
