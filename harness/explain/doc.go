// Package explain says where in the kernel a scenario's extra time went
// between two kernels: from the function_graph traces the guest took after
// the timed iterations (coldstart.trace=N, package guest/trace), it ranks
// the call paths by how much their inclusive time per iteration grew, with
// both kernels' figures side by side, as text, markdown, or an SVG icicle
// chart for the HTML report, and names the path whose own time grew most.
//
// Time a task spends asleep waiting for another traced task (a parent in
// wait4 until its child has exited) is not a cause: it grows with the
// awaited task's paths. Such rows are shown, marked, and left out of the
// ranking and the headline (see Row.Waits).
//
// Environment: none.
package explain
