package kernels

import (
	"bufio"
	"bytes"
	"compress/gzip"
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
