package guestimage

import (
	"testing"

	"coldstart/plan"
)

// The archive paths are part of the initramfs's cache key: they must not
// move when the layout's home does.
func TestLayoutPaths(t *testing.T) {
	for got, want := range map[string]string{
		inImage(plan.Runtimes[0].Path):     "bbin/csrun",
		inImage(plan.Runtimes[1].Path):     "usr/bin/crun",
		inImage(plan.Runtimes[2].Path):     "usr/sbin/runc",
		inImage(plan.ProfilePath):          ProfilePath,
		inImage(plan.BundleDir, "default"): "bundles/default",
	} {
		if got != want {
			t.Errorf("archive path %q, want %q", got, want)
		}
	}
}
