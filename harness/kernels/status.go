package kernels

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Status is what the cache holds for a kernel, found without hashing
// anything (Fetch verifies).
type Status struct {
	Cached  bool   // a complete cache entry exists
	Dir     string // the entry's directory, when known
	Release string // kernel release, when cached
	Size    int64  // bytes of the kernel image (bzImage), when cached
	Boot    string // "vmlinux (PVH)" or "bzImage", when cached
}

// Status reports whether k is in the cache and how big it is.
func (f *Fetcher) Status(ctx context.Context, k Kernel) Status {
	cache, err := f.cacheDir()
	if err != nil {
		return Status{}
	}
	var key string
	switch k.Source {
	case SourceDebian:
		key = k.Name + "-" + k.Debian.SHA256[:12]
	case SourceGoMod:
		key = k.Name + "-" + k.GoMod.SHA256[:12]
	case SourceFile:
		sum := k.Local.SHA256
		if sum == "" {
			s, _, err := sha256File(k.Local.Path)
			if err != nil {
				return Status{}
			}
			sum = s
		}
		key = k.Name + "-" + sum[:12]
	case SourceBuild:
		frag, err := os.ReadFile(k.FragmentPath())
		if err != nil {
			return Status{}
		}
		spec := BuildSpec{Name: k.Name, Tree: k.Build.Tree}
		tree := k.Build.Tree
		switch {
		case k.Build.Tarball != nil:
			if k.Build.Tarball.SHA256 == "" {
				return Status{}
			}
			spec.TreeID = "tar:" + k.Build.Tarball.SHA256
			tree = unpackedTree(filepath.Join(cache, "src", "tarball-"+k.Build.Tarball.SHA256[:12]))
		case k.Build.Debian != nil:
			spec.TreeID = "deb:" + k.Build.Debian.SHA256
			d := k.Build.Debian
			tree = unpackedTree(filepath.Join(cache, "src", d.Package+"_"+d.Version+"-"+d.SHA256[:12]))
		case k.Build.Ref != "":
			out, err := exec.CommandContext(ctx, "git", "-C", k.Build.Tree, "rev-parse", "--verify", "--end-of-options", k.Build.Ref+"^{commit}").Output()
			if err != nil {
				return Status{}
			}
			spec.TreeID = "git:" + strings.TrimSpace(string(out))
			tree = filepath.Join(cache, "src", "git-"+strings.TrimSpace(string(out))[:12])
		}
		// The toolchain is part of the key, and it is chosen by the tree.
		facts, err := ProbeTree(tree)
		if err != nil {
			return Status{}
		}
		key = k.Name + "-" + buildKey(spec, frag, ChooseToolchain(facts, hostGCCMajor()).key())
	default:
		return Status{}
	}
	dir := filepath.Join(cache, "kernels", key)
	st := Status{Dir: dir}
	m, err := readManifest(dir)
	if err != nil {
		return st
	}
	im := imageFromManifest(dir, m)
	for _, p := range []string{im.BzImage, im.Vmlinux, im.Config} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			return st
		}
	}
	st.Cached, st.Release = true, m.Release
	if fi, err := os.Stat(im.BzImage); err == nil {
		st.Size = fi.Size()
	}
	st.Boot = "bzImage"
	if im.Vmlinux != "" {
		st.Boot = "vmlinux (PVH)"
	}
	return st
}

// unpackedTree returns the tree a source unpacked into dir holds, or dir.
func unpackedTree(dir string) string {
	name, err := os.ReadFile(filepath.Join(dir, ".coldstart-tree"))
	if err != nil {
		return dir
	}
	return filepath.Join(dir, strings.TrimSpace(string(name)))
}
