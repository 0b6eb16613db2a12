package explain

import "strings"

// Waiting for a traced task.
//
// The tracer counts a sleep in the function that slept (sleep-time on),
// which is what makes a grace period waited in namespace teardown show up
// where it happens. But some sleeps only last as long as another task of
// the scenario takes: a parent reaping its child sleeps in
// wait4 > kernel_wait4 > do_wait > schedule until the child has exited,
// and the child is traced too (function-fork follows the scenario's
// children). When the child's exit grows, the parent's sleep grows by as
// much, and a little more (the child's untraced moments between traced
// calls): ranked with the rest, that sleep would always beat the cause.
// Such rows are marked Waits, shown, and never ranked or named as where
// time grew; their callers are ranked by their growth less it.
//
// Among the graph roots (see guest/trace's DefaultRoots) a task waits for
// another in:
//   - do_wait's schedule: wait4 and waitid, pidfds (P_PIDFD) included,
//     until a child exits or stops;
//   - wait_for_vfork_done's completion: clone(CLONE_VFORK) until the child
//     execs or exits (kernel_clone or, before 5.10, _do_fork, when it is
//     inlined).
//
// Futex and poll waits (a thread join, a pidfd polled) would be waits too,
// but their system calls are not graph roots, so they are never seen; a
// wait on a futex may also be for a lock rather than a task, which the
// path alone cannot tell.
var waitSites = map[string]func(callee string) bool{
	"do_wait":             func(f string) bool { return f == "schedule" },
	"wait_for_vfork_done": isCompletionWait,
	"kernel_clone":        isCompletionWait,
	"_do_fork":            isCompletionWait,
}

func isCompletionWait(f string) bool { return strings.HasPrefix(f, "wait_for_completion") }

// waits reports whether a (normalized) path is at or under a sleep that
// waits for another traced task.
func waits(path string) bool {
	segs := strings.Split(path, ";")
	for i := 1; i < len(segs); i++ {
		if sleeps := waitSites[segs[i-1]]; sleeps != nil && sleeps(segs[i]) {
			return true
		}
	}
	return false
}

// markWaits sets Waits and WaitGrowth on rows (keyed by path, Growth set)
// and returns the topmost waiting rows' paths: those whose caller does not
// wait. A waiting row's WaitGrowth is its Growth; a caller's, the sum of
// the topmost waits' beneath it.
func markWaits(rows map[string]*Row) []string {
	var top []string
	for p, row := range rows {
		row.Waits = waits(p)
	}
	for p, row := range rows {
		if !row.Waits {
			continue
		}
		if i := strings.LastIndexByte(p, ';'); i >= 0 && rows[p[:i]] != nil && rows[p[:i]].Waits {
			continue
		}
		top = append(top, p)
	}
	for _, row := range rows {
		if row.Waits {
			row.WaitGrowth = row.Growth
		}
	}
	for _, p := range top {
		g := rows[p].Growth
		for i := strings.LastIndexByte(p, ';'); i >= 0; i = strings.LastIndexByte(p[:i], ';') {
			caller := rows[p[:i]]
			if caller == nil {
				break
			}
			caller.WaitGrowth += g
		}
	}
	return top
}
