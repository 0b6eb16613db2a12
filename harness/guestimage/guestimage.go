// Package guestimage assembles the complete initramfs a matrix boots: u-root's
// init and csagent (always), and for the container scenarios csrun (built
// static from this tree), Debian's crun and runc with their shared
// libraries, and the OCI bundles (package benchbundle) with the default seccomp
// profile. A piece that cannot be had is left out with a note; the guest
// then reports the scenarios that need it as unsupported.
//
// Environment: none directly.
package guestimage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"coldstart/harness/benchbundle"
	"coldstart/harness/initramfs"
	"coldstart/plan"
)

// Options say where the source and the cache are.
type Options struct {
	Source string // the coldstart module root
	Cache  string // the cache root
	// Scenarios are the scenarios the image must serve. When any of them
	// runs programs (plan.NeedsRuntimes) the image gets the runtimes, the
	// bundles and the seccomp profile; otherwise it holds only what the
	// kernel primitives need.
	Scenarios []string
}

// Image is a built initramfs.
type Image struct {
	*initramfs.Result
	Notes []string // what was left out and why
}

// ProfilePath is the default seccomp profile, relative to the source root.
const ProfilePath = "profiles/default.json"

// inImage is the archive path of a guest path (package plan's layout).
func inImage(guestPath ...string) string {
	return strings.TrimPrefix(path.Join(guestPath...), "/")
}

// Build builds (or reuses) the initramfs.
func Build(ctx context.Context, o Options) (*Image, error) {
	binDir := filepath.Join(o.Cache, "bin")
	initBin, agentBin, err := initramfs.Binaries(ctx, o.Source, binDir)
	if err != nil {
		return nil, err
	}
	im := &Image{}
	var files []initramfs.File
	if plan.NeedsRuntimes(o.Scenarios) {
		if _, err := os.Stat(filepath.Join(o.Source, "cmd/csrun")); err == nil {
			csrun, err := initramfs.StaticCgo(ctx, o.Source, binDir, "./cmd/csrun", "csrun")
			if err != nil {
				im.Notes = append(im.Notes, fmt.Sprintf("csrun left out: %v", err))
			} else {
				files = append(files, initramfs.File{Src: csrun, Dst: inImage(plan.Runtimes[0].Path)})
			}
		} else {
			im.Notes = append(im.Notes, "csrun left out: no cmd/csrun in this tree")
		}
		for _, rt := range plan.Runtimes[1:] { // csrun is built above; the others come from the host
			p, err := exec.LookPath(rt.Name)
			if err != nil {
				im.Notes = append(im.Notes, fmt.Sprintf("%s left out: not installed on the host (make setup installs it)", rt.Name))
				continue
			}
			p, _ = filepath.EvalSymlinks(p)
			files = append(files, initramfs.File{Src: p, Dst: inImage(rt.Path)})
		}
		profile, err := benchbundle.LoadProfile(filepath.Join(o.Source, ProfilePath))
		if err != nil {
			im.Notes = append(im.Notes, fmt.Sprintf("seccomp bundles left out: %v", err))
			profile = nil
		} else {
			files = append(files, initramfs.File{Src: filepath.Join(o.Source, ProfilePath), Dst: inImage(plan.ProfilePath)})
		}
		dirs, err := benchbundle.Write(filepath.Join(o.Cache, "bundles"), profile)
		if err != nil {
			return nil, err
		}
		for name, dir := range dirs {
			files = append(files, initramfs.File{Src: dir, Dst: inImage(plan.BundleDir, name)})
		}
		// The probe bundle: isolation/<runtime> checks what a container
		// can see (guest/probe).
		probeBin, err := initramfs.Static(ctx, o.Source, binDir, "./cmd/csprobe", "csprobe")
		if err != nil {
			im.Notes = append(im.Notes, fmt.Sprintf("probe bundle left out: %v", err))
		} else {
			dir, err := benchbundle.WriteProbe(filepath.Join(o.Cache, "bundles"), probeBin)
			if err != nil {
				return nil, err
			}
			files = append(files, initramfs.File{Src: dir, Dst: inImage(plan.BundleDir, benchbundle.Probe)})
		}
	}
	res, err := initramfs.Build(ctx, initramfs.Options{Init: initBin, Agent: agentBin, Files: files,
		CacheDir: filepath.Join(o.Cache, "initramfs")})
	if err != nil {
		return nil, err
	}
	im.Result = res
	return im, nil
}
