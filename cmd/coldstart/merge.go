package main

import (
	"fmt"
	"io"

	"coldstart/harness/matrix"
)

// runMerge joins shard run directories into one.
func runMerge(stdout, stderr io.Writer, args []string) error {
	if len(args) < 2 {
		return usagef("usage: coldstart merge OUT_DIR RUN_DIR... (the run directories of the shards)")
	}
	files, err := matrix.Merge(args[0], args[1:], stderr)
	if err != nil {
		return usageError{err}
	}
	incomplete := 0
	for _, f := range files {
		state := "complete"
		if !f.Complete {
			state = "INCOMPLETE: some boots are missing; are all shards there?"
			incomplete++
		}
		fmt.Fprintf(stdout, "%s: %d boots, %s\n", f.Kernel.Name, len(f.Boots), state)
	}
	fmt.Fprintf(stdout, "merged into %s\n", args[0])
	if incomplete > 0 {
		return fmt.Errorf("%d kernels lack boots after the merge", incomplete)
	}
	return nil
}
