// Package testvm gives tests what a real boot needs: QEMU, the default
// kernel (fetched and verified through the cache like any run) and the
// initramfs built from this checkout. Where those truly cannot be had it
// skips the test with the reason, except in CI (CI=true), where `make
// setup` must have provided them and their absence is a failure.
//
// Environment: CI, and what harness/kernels reads (COLDSTART_CACHE, ...).
package testvm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"coldstart/harness/initramfs"
	"coldstart/harness/kernels"
)

// DefaultKernel is the kernel file tests boot.
const DefaultKernel = "debian-6.1-cloud"

// Env is a bootable kernel and initramfs.
type Env struct {
	Kernel kernels.Kernel
	Image  *kernels.Image
	Initrd string
	Source string // the module root
}

var (
	once   sync.Once
	env    *Env
	envErr error
	skip   string
)

// Require returns the boot environment or skips/fails t.
func Require(t testing.TB) *Env {
	t.Helper()
	once.Do(setup)
	if skip != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot boot a VM in CI: %s", skip)
		}
		t.Skip(skip)
	}
	if envErr != nil {
		t.Fatalf("test VM setup: %v", envErr)
	}
	return env
}

func setup() {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		skip = "qemu-system-x86_64 not found (run make setup): " + err.Error()
		return
	}
	wd, _ := os.Getwd()
	src, err := initramfs.ModuleRoot(wd)
	if err != nil {
		envErr = err
		return
	}
	ks, err := kernels.Load(filepath.Join(src, "kernels"))
	if err != nil {
		envErr = err
		return
	}
	k, err := kernels.Lookup(ks, DefaultKernel)
	if err != nil {
		envErr = err
		return
	}
	cache, err := kernels.DefaultCacheDir()
	if err != nil {
		envErr = err
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	im, err := (&kernels.Fetcher{CacheDir: cache}).Fetch(ctx, k)
	if err != nil {
		skip = "default kernel cannot be fetched: " + err.Error()
		return
	}
	ib, ab, err := initramfs.Binaries(ctx, src, filepath.Join(cache, "bin"))
	if err != nil {
		envErr = err
		return
	}
	ir, err := initramfs.Build(ctx, initramfs.Options{Init: ib, Agent: ab, CacheDir: filepath.Join(cache, "initramfs")})
	if err != nil {
		envErr = err
		return
	}
	env = &Env{Kernel: k, Image: im, Initrd: ir.Path, Source: src}
}
