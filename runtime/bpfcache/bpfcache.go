// Package bpfcache stores compiled seccomp BPF programs so that a container
// whose profile was seen before skips libseccomp entirely.
//
// Key: SHA-256 over a domain string, the csrun version, the libseccomp
// version, the kernel's uname (release, version, machine) and a canonical
// encoding of the profile (the JSON encoding of the decoded
// specs.LinuxSeccomp: field order, whitespace and number spelling of the
// original file do not matter, every semantic field does).
//
// Entry: <dir>/<hex key>, written atomically (temporary file, fsync,
// rename). It starts with a 48-byte header: magic "CSBPF\x00\x01\x00",
// payload length (uint64 little endian) and SHA-256 of the payload, followed
// by the payload (raw sock_filter instructions). Get verifies all of it; an
// entry that is truncated, too long, or fails its checksum is removed and
// reported as ErrCorrupt, so the caller rebuilds it and never loads it.
//
// Size bound: after each Put, entries are evicted least recently used first
// (Get refreshes an entry's modification time, which serves as the use time:
// atime is unreliable under relatime/noatime) until the directory holds at
// most MaxBytes.
//
// The package reads no environment variables.
package bpfcache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"coldstart/internal/atomicfile"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultMaxBytes bounds the cache directory's size when Options leave it 0.
const DefaultMaxBytes = 8 << 20

// HeaderSize is the size of an entry's header.
const HeaderSize = 48

var magic = [8]byte{'C', 'S', 'B', 'P', 'F', 0, 1, 0}

// ErrMiss is returned by Get when no entry exists for a key.
var ErrMiss = errors.New("bpfcache: miss")

// ErrCorrupt is returned (wrapped) by Get when an entry failed verification
// and was removed.
var ErrCorrupt = errors.New("bpfcache: corrupt entry")

// Cache is a directory of compiled programs.
type Cache struct {
	Dir      string
	MaxBytes int64
}

// New returns a cache in dir (created on first Put) bounded to maxBytes
// (DefaultMaxBytes if maxBytes <= 0).
func New(dir string, maxBytes int64) *Cache {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Cache{Dir: dir, MaxBytes: maxBytes}
}

// KeyInputs are the things a compiled program depends on.
type KeyInputs struct {
	CsrunVersion      string
	LibseccompVersion string
	Release, Version  string // uname -r, uname -v
	Machine           string // uname -m
	Profile           *specs.LinuxSeccomp
}

// HostKeyInputs fills the uname fields from the running kernel.
func HostKeyInputs(csrunVersion, libseccompVersion string, profile *specs.LinuxSeccomp) (KeyInputs, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return KeyInputs{}, fmt.Errorf("bpfcache: uname: %w", err)
	}
	return KeyInputs{
		CsrunVersion: csrunVersion, LibseccompVersion: libseccompVersion,
		Release: unix.ByteSliceToString(u.Release[:]), Version: unix.ByteSliceToString(u.Version[:]),
		Machine: unix.ByteSliceToString(u.Machine[:]), Profile: profile,
	}, nil
}

// Key returns the hex SHA-256 cache key for in.
func Key(in KeyInputs) (string, error) {
	prof, err := json.Marshal(in.Profile)
	if err != nil {
		return "", fmt.Errorf("bpfcache: encode profile: %w", err)
	}
	h := sha256.New()
	for _, s := range []string{"csrun seccomp bpf v1", in.CsrunVersion, in.LibseccompVersion, in.Release, in.Version, in.Machine} {
		// Length-prefixed, so that ("ab","c") and ("a","bc") differ.
		binary.Write(h, binary.LittleEndian, uint64(len(s)))
		io.WriteString(h, s)
	}
	binary.Write(h, binary.LittleEndian, uint64(len(prof)))
	h.Write(prof)
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (c *Cache) path(key string) (string, error) {
	if len(key) != 64 || strings.Trim(key, "0123456789abcdef") != "" {
		return "", fmt.Errorf("bpfcache: bad key %q", key)
	}
	return filepath.Join(c.Dir, key), nil
}

// Get returns the program stored under key. It returns ErrMiss if there is
// none, and an error wrapping ErrCorrupt (after removing the file) if the
// entry does not verify.
func (c *Cache) Get(key string) ([]byte, error) {
	p, err := c.path(key)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrMiss
	}
	if err != nil {
		return nil, fmt.Errorf("bpfcache: %w", err)
	}
	prog, verr := Decode(data)
	if verr != nil {
		os.Remove(p)
		return nil, fmt.Errorf("%w %s: %v", ErrCorrupt, key, verr)
	}
	now := time.Now()
	os.Chtimes(p, now, now) // LRU bookkeeping; failure only skews eviction
	return prog, nil
}

// Encode returns the on-disk form of prog.
func Encode(prog []byte) []byte {
	out := make([]byte, HeaderSize, HeaderSize+len(prog))
	copy(out, magic[:])
	binary.LittleEndian.PutUint64(out[8:], uint64(len(prog)))
	sum := sha256.Sum256(prog)
	copy(out[16:], sum[:])
	return append(out, prog...)
}

// Decode verifies an entry and returns its payload.
func Decode(data []byte) ([]byte, error) {
	if len(data) < HeaderSize {
		return nil, fmt.Errorf("%d bytes, shorter than the header", len(data))
	}
	if !bytes.Equal(data[:8], magic[:]) {
		return nil, fmt.Errorf("bad magic %q", data[:8])
	}
	n := binary.LittleEndian.Uint64(data[8:])
	if n != uint64(len(data)-HeaderSize) {
		return nil, fmt.Errorf("header says %d payload bytes, file has %d", n, len(data)-HeaderSize)
	}
	prog := data[HeaderSize:]
	if sum := sha256.Sum256(prog); !bytes.Equal(sum[:], data[16:48]) {
		return nil, errors.New("checksum mismatch")
	}
	if n == 0 || n%8 != 0 {
		return nil, fmt.Errorf("payload of %d bytes is not a whole number of instructions", n)
	}
	return prog, nil
}

// Put stores prog under key atomically, then evicts least recently used
// entries past the size bound.
func (c *Cache) Put(key string, prog []byte) error {
	p, err := c.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return fmt.Errorf("bpfcache: %w", err)
	}
	if err := atomicfile.WriteFile(p, Encode(prog), 0o600); err != nil {
		return fmt.Errorf("bpfcache: %w", err)
	}
	return c.evict(key)
}

func (c *Cache) evict(keep string) error {
	ents, err := os.ReadDir(c.Dir)
	if err != nil {
		return fmt.Errorf("bpfcache: evict: %w", err)
	}
	type entry struct {
		name  string
		size  int64
		mtime time.Time
	}
	var all []entry
	var total int64
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue // temporary files of concurrent writers
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		all = append(all, entry{e.Name(), fi.Size(), fi.ModTime()})
		total += fi.Size()
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mtime.Before(all[j].mtime) })
	for _, e := range all {
		if total <= c.MaxBytes {
			break
		}
		if e.name == keep {
			continue
		}
		if err := os.Remove(filepath.Join(c.Dir, e.name)); err == nil || errors.Is(err, os.ErrNotExist) {
			total -= e.size
		}
	}
	return nil
}
