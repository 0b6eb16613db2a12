// Package explain says where in the kernel a scenario's extra time went
// between two kernels: from the function_graph traces the guest took after
// the timed iterations (coldstart.trace=N, package guest/trace), it ranks
// the call paths by how much their inclusive time per iteration grew, with
// both kernels' figures side by side, as text, markdown, or an SVG icicle
// chart for the HTML report.
//
// Environment: none.
package explain
