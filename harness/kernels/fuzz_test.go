package kernels

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadFile feeds arbitrary kernel files to the parser: it must never
// panic, and every rejection must be an ErrInvalidKernelFile naming the file.
func FuzzLoadFile(f *testing.F) {
	f.Add([]byte("name = \"debian-6.1-cloud\"\nversion = \"6.1.192\"\nsource = \"debian\"\n[debian]\nsuite = \"bookworm\"\npackage = \"linux-image-6.1.0-57-cloud-amd64\"\nversion = \"6.1.192-3\"\nsha256 = \"4fdd0172a8c3f41a97e92465b2ac1867e1c10d82d7aeed3d26ee7a5d14df1754\"\n"))
	f.Add([]byte("name = \"mine\"\nversion = \"6.6\"\nsource = \"file\"\n[file]\npath = \"/boot/vmlinuz\"\n"))
	f.Add([]byte("name = 3\n[[debian]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "k.toml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		k, err := LoadFile(path)
		if err != nil {
			if !errors.Is(err, ErrInvalidKernelFile) {
				t.Fatalf("rejection is not ErrInvalidKernelFile: %v", err)
			}
			return
		}
		if !safeName(k.Name) {
			t.Fatalf("accepted unsafe name %q", k.Name)
		}
		if (k.Debian == nil) == (k.Local == nil) {
			t.Fatalf("accepted file with sources debian=%v file=%v", k.Debian, k.Local)
		}
	})
}
