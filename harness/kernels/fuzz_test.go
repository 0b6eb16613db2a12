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
	f.Add([]byte("name = \"gk\"\nversion = \"7.1.2\"\nsource = \"gomod\"\n[gomod]\nmodule = \"github.com/gokrazy/kernel.amd64\"\nversion = \"v0.0.0-20260705070735-de680abf072b\"\nsha256 = \"276e5c6eefee7d955d3b6808d214b535561ce426789e3b4f53bd899474612525\"\n"))
	f.Add([]byte("name = \"b\"\nversion = \"4.19\"\nsource = \"build\"\n[build]\ntree = \"/src/linux\"\nref = \"v4.19\"\n"))
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
		n := 0
		for _, set := range []bool{k.Debian != nil, k.GoMod != nil, k.Build != nil, k.Local != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("accepted file with %d source sections: %+v", n, k)
		}
	})
}
