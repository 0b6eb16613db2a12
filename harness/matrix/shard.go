package matrix

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"coldstart/harness/results"
)

// Shard is the i-th of n slices of a matrix's units (1 <= I <= N). The
// zero Shard is the whole matrix.
type Shard struct{ I, N int }

// ParseShard reads "i/n".
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return Shard{}, fmt.Errorf("--shard %q: want i/n with 1 <= i <= n, e.g. 2/4", s)
	}
	return Shard{I: i, N: n}, nil
}

// IsZero reports whether s is the whole matrix.
func (s Shard) IsZero() bool { return s.N <= 1 }

func (s Shard) String() string {
	if s.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.I, s.N)
}

// Select returns the units of this shard: every n-th unit of the stable
// order, starting at the i-th. Every unit is in exactly one shard, each
// shard gets boots of every kernel when there are enough, and the split
// depends only on the kernel list and the boot count.
func (s Shard) Select(units []Unit) []Unit {
	if s.IsZero() {
		return units
	}
	var out []Unit
	for k, u := range units {
		if k%s.N == s.I-1 {
			out = append(out, u)
		}
	}
	return out
}

// Merge joins the result files of several shard (or partial) run
// directories into outDir: per kernel, the boots of all inputs, which must
// share the kernel image and the plan. A boot index present twice is an
// error. Console logs are copied along.
//
// Every input must come from one machine class with one accelerator
// (package machine): a kernel's boots from two classes cannot be one
// sample, and kernels from two classes side by side in one run directory
// would be compared as if from one machine. Other differences of the
// machines, and files too old to carry a fingerprint, are written to warn.
func Merge(outDir string, inDirs []string, warn io.Writer) ([]*results.File, error) {
	var first *results.File
	var firstPath string
	var warnings []string
	type acc struct {
		file    *results.File
		samples map[int]map[string][]results.Sample
		from    map[int]string
	}
	accs := map[string]*acc{}
	var order []string
	for _, dir := range inDirs {
		paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			return nil, err
		}
		if len(paths) == 0 {
			return nil, fmt.Errorf("%s holds no result files", dir)
		}
		sort.Strings(paths)
		for _, p := range paths {
			f, err := results.Read(p)
			if err != nil {
				return nil, err
			}
			if first == nil {
				first, firstPath = f, p
			} else if err := mergeable(first, f, firstPath, p, &warnings); err != nil {
				return nil, err
			}
			name := f.Kernel.Name
			a := accs[name]
			if a == nil {
				cp := *f
				cp.Boots, cp.Shard, cp.Complete = nil, "", false
				a = &acc{file: &cp, samples: map[int]map[string][]results.Sample{}, from: map[int]string{}}
				accs[name] = a
				order = append(order, name)
			} else {
				if f.Kernel.SHA256 != a.file.Kernel.SHA256 {
					return nil, fmt.Errorf("%s: kernel %s ran image %s, another shard ran %s", p, name, f.Kernel.SHA256, a.file.Kernel.SHA256)
				}
				if err := samePlan(f.Plan, a.file.Plan); err != nil {
					return nil, fmt.Errorf("%s: %w", p, err)
				}
				if f.Started.Before(a.file.Started) {
					a.file.Started = f.Started
				}
				if f.Finished.After(a.file.Finished) {
					a.file.Finished = f.Finished
				}
				a.file.Plan.AddedBoots = max(a.file.Plan.AddedBoots, f.Plan.AddedBoots)
			}
			byBoot := f.SamplesByBoot()
			for _, b := range f.Boots {
				if prev, dup := a.from[b.Index]; dup {
					return nil, fmt.Errorf("kernel %s boot %d is in both %s and %s: were the shards given twice?", name, b.Index, prev, p)
				}
				a.from[b.Index] = p
				if b.ConsoleLog != "" {
					dst := filepath.Join(outDir, name, filepath.Base(b.ConsoleLog))
					if err := copyFile(b.ConsoleLog, dst); err == nil {
						b.ConsoleLog = dst
					}
				}
				a.file.Boots = append(a.file.Boots, b)
				a.samples[b.Index] = byBoot[b.Index]
			}
		}
	}
	for _, w := range warnings {
		fmt.Fprintf(warn, "merge: warning: %s\n", w)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	var files []*results.File
	for _, name := range order {
		a := accs[name]
		a.file.Rebuild(a.samples)
		complete := true
		for b := 0; b < a.file.Plan.Boots+a.file.Plan.AddedBoots; b++ {
			if _, ok := a.from[b]; !ok {
				complete = false
			}
		}
		a.file.Complete = complete
		if err := results.Write(filepath.Join(outDir, name+".json"), a.file); err != nil {
			return nil, err
		}
		files = append(files, a.file)
	}
	return files, nil
}

// mergeable refuses f at p when its machine class or accelerator differs
// from first's (at firstPath), and warns of other differences.
func mergeable(first, f *results.File, firstPath, p string, warnings *[]string) error {
	d := results.CompareMachines(first, f, firstPath, p)
	if len(d.Class) > 0 {
		return fmt.Errorf("%s and %s were measured on different machine classes (%s): a merged run must come from one; rerun the shard on the others' class",
			firstPath, p, strings.Join(d.Class, "; "))
	}
	for _, w := range append(d.Other, d.Unknown...) {
		if !slices.Contains(*warnings, w) {
			*warnings = append(*warnings, w)
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
