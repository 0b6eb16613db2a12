package tree

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"coldstart/harness/kernels"
	"coldstart/harness/matrix"
	"coldstart/internal/atomicfile"
)

// Builder builds the kernel of one commit of a workspace. log receives the
// build's progress and, on failure, what to read; a failure means the
// commit cannot be measured (a bisect step skips it).
//
// This is the seam between bisect/ci and harness/kernels: tests give a fake,
// KernelBuilder adapts kernels.Fetcher.Build.
type Builder interface {
	Build(ctx context.Context, w *Workspace, commit string, log io.Writer) (*kernels.Image, error)
}

// KernelBuilder builds commits with kernels.Fetcher.Build: make tinyconfig,
// the config fragment, make olddefconfig, the fragment check, make bzImage,
// out of tree. The workspace is handed to Build as a working directory
// (TreeID ""), so every commit of one repository shares one build directory
// (<cache>/build/<Name>-<key of the clone path and fragment>) and a step
// recompiles only what changed since the last one; ccache is used when
// installed (harness/kernels decides).
//
// Each image built is copied to <cache>/built/<Name>-<tree hash>-<fragment
// hash>/bzImage, so a commit whose content was built before (the good and
// bad ends on a resumed bisect, the base of every nightly ci run) is not
// built again.
type KernelBuilder struct {
	Fetcher  *kernels.Fetcher // its Progress is replaced by each call's log
	Fragment string           // the config fragment
	Name     string           // build name, e.g. "kernel-linux"
}

// Build implements Builder.
func (b *KernelBuilder) Build(ctx context.Context, w *Workspace, commit string, log io.Writer) (*kernels.Image, error) {
	cache := b.Fetcher.CacheDir
	if cache == "" {
		var err error
		if cache, err = kernels.DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	frag, err := os.ReadFile(b.Fragment)
	if err != nil {
		return nil, fmt.Errorf("config fragment: %w", err)
	}
	fh := sha256.Sum256(frag)
	tree, err := w.TreeOf(ctx, commit)
	if err != nil {
		return nil, err
	}
	stored := filepath.Join(cache, "built", fmt.Sprintf("%s-%.12s-%s", b.Name, tree, hex.EncodeToString(fh[:])[:8]), "bzImage")
	if _, err := os.Stat(stored); err == nil {
		fmt.Fprintf(log, "commit %.12s: kernel of tree %.12s already built: %s\n", commit, tree, stored)
		return kernels.ImageFromFile(ctx, stored, cache)
	}
	if err := w.Checkout(ctx, commit); err != nil {
		return nil, err
	}
	f := *b.Fetcher
	f.Progress = log
	f.Interactive = false
	im, err := f.Build(ctx, kernels.BuildSpec{Name: b.Name, Tree: w.Dir, Fragment: b.Fragment})
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(im.BzImage)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(stored), 0o755); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(stored, data, 0o644); err != nil {
		return nil, err
	}
	return kernels.ImageFromFile(ctx, stored, cache)
}

// BuildLogged builds commit in w, keeping the build's output in logPath
// (and showing it on progress); a failure is noted at the log's end.
func BuildLogged(ctx context.Context, b Builder, w *Workspace, commit, logPath string, progress io.Writer) (*kernels.Image, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	im, err := b.Build(ctx, w, commit, io.MultiWriter(lf, progress))
	if err != nil {
		fmt.Fprintf(lf, "\nbuild of %s failed: %v\n", commit, err)
	}
	return im, err
}

// Target names a built commit for the matrix: role-<12 hex digits>.
func Target(role, commit string, im *kernels.Image) matrix.Target {
	return matrix.Target{
		Kernel: kernels.Kernel{Name: role + "-" + commit[:12], Source: kernels.SourceBuild, Version: im.Release},
		Image:  im,
	}
}

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
