package kernels

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ConfigHas returns the value of option key ("CONFIG_PVH" or just "PVH") in a
// kernel config file, plain or gzip-compressed (as /proc/config.gz): "y",
// "m", a number, or a string with its quotes removed. An option that is
// absent or "is not set" yields "".
func ConfigHas(path, key string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return "", err
		}
		defer zr.Close()
		r = zr
	}
	if !strings.HasPrefix(key, "CONFIG_") {
		key = "CONFIG_" + key
	}
	prefix := key + "="
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		v := strings.TrimSpace(line[len(prefix):])
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		return v, nil
	}
	return "", sc.Err()
}

// ErrNoConfig means no config is known for a kernel: no config file came
// with it and its image does not embed one (CONFIG_IKCONFIG off).
var ErrNoConfig = errors.New("kernel config unknown")

// Config is a parsed kernel config: option name ("CONFIG_NET_NS") to value
// ("y", "m", a number, or a string without its quotes). Options that are
// "not set" are absent.
type Config map[string]string

// ParseConfig reads a kernel config, plain or gzip-compressed.
func ParseConfig(r io.Reader) (Config, error) {
	br := bufio.NewReader(r)
	var rd io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		rd = zr
	}
	c := Config{}
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "CONFIG_") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		c[k] = v
	}
	return c, sc.Err()
}

// ReadConfig reads a kernel config file, plain or gzip-compressed.
func ReadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := ParseConfig(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Enabled reports whether option (with or without the CONFIG_ prefix) is
// built in or a module.
func (c Config) Enabled(option string) bool {
	v := c[withPrefix(option)]
	return v != "" && v != "n"
}

// Missing returns the options of a comma-separated list (the form of a
// scenario's Option, "CONFIG_NET_NS,CONFIG_IPC_NS") that are not enabled,
// in the order given, each with its CONFIG_ prefix.
func (c Config) Missing(options string) []string {
	var out []string
	for _, o := range splitOptions(options) {
		if !c.Enabled(o) {
			out = append(out, o)
		}
	}
	return out
}

// Options maps every option of the comma-separated lists to whether the
// kernel enables it, so that the harness can mark a scenario unsupported
// before booting. It returns an error wrapping ErrNoConfig when the image's
// config is unknown (the guest's own check then decides).
func (im *Image) Options(lists ...string) (map[string]bool, error) {
	c, err := im.KernelConfig()
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, l := range lists {
		for _, o := range splitOptions(l) {
			out[o] = c.Enabled(o)
		}
	}
	return out, nil
}

// MissingOptions returns the options of a comma-separated list that the
// image's kernel lacks (see Config.Missing); an error wraps ErrNoConfig
// when the config is unknown.
func (im *Image) MissingOptions(options string) ([]string, error) {
	c, err := im.KernelConfig()
	if err != nil {
		return nil, err
	}
	return c.Missing(options), nil
}

// KernelConfig returns the kernel's config: the config file that came with
// it (Image.Config), else the one embedded in the image (IKCONFIG).
func (im *Image) KernelConfig() (Config, error) {
	if im.Config != "" {
		return ReadConfig(im.Config)
	}
	for _, p := range []string{im.Vmlinux, im.BzImage} {
		if p == "" {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		cfg, err := ExtractIKConfig(data)
		if err == nil {
			return ParseConfig(bytes.NewReader(cfg))
		}
	}
	return nil, fmt.Errorf("%s: %w: no config file came with it and the image embeds none (build with CONFIG_IKCONFIG=y, or give config-<release> next to the image)", im.Name, ErrNoConfig)
}

func withPrefix(o string) string {
	if !strings.HasPrefix(o, "CONFIG_") {
		return "CONFIG_" + o
	}
	return o
}

func splitOptions(s string) []string {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, withPrefix(o))
		}
	}
	return out
}

// ikconfig markers around the gzip stream of an embedded config
// (kernel/configs.c).
var (
	ikcfgStart = []byte("IKCFG_ST")
	ikcfgEnd   = []byte("IKCFG_ED")
)

// ExtractIKConfig returns the config a kernel embeds with CONFIG_IKCONFIG:
// the gzip stream after the "IKCFG_ST" marker. data is an uncompressed
// vmlinux, or a bzImage (its payload is decompressed first when the marker
// is not found in the file as it is). It wraps ErrNoConfig when there is
// none.
func ExtractIKConfig(data []byte) ([]byte, error) {
	if cfg, ok := ikconfigIn(data); ok {
		return cfg, nil
	}
	if _, err := ParseBzImage(data); err == nil {
		if vm, err := ExtractVmlinux(data); err == nil {
			if cfg, ok := ikconfigIn(vm); ok {
				return cfg, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: no IKCFG_ST marker followed by a gzip stream (CONFIG_IKCONFIG is off)", ErrNoConfig)
}

func ikconfigIn(data []byte) ([]byte, bool) {
	for off := 0; ; {
		i := bytes.Index(data[off:], ikcfgStart)
		if i < 0 {
			return nil, false
		}
		s := data[off+i+len(ikcfgStart):]
		off += i + len(ikcfgStart)
		if len(s) < 2 || s[0] != 0x1f || s[1] != 0x8b {
			continue
		}
		if j := bytes.Index(s, ikcfgEnd); j > 0 {
			s = s[:j]
		}
		zr, err := gzip.NewReader(bytes.NewReader(s))
		if err != nil {
			continue
		}
		zr.Multistream(false)
		cfg, err := io.ReadAll(io.LimitReader(zr, 16<<20))
		if err != nil && len(cfg) == 0 {
			continue
		}
		if bytes.Contains(cfg, []byte("CONFIG_")) {
			return cfg, true
		}
	}
}
