// Package container is csrun's OCI runtime: it creates, starts, inspects,
// signals and deletes containers described by OCI bundles, in stages, the
// way runc does, and measures each start-up phase.
//
// # Stages
//
// Three processes take part; each is named in ps:
//
//   - parent ("csrun", the CLI): loads and validates config.json, spawns
//     the init stage, looks the seccomp profile up in the BPF cache or
//     compiles it while the stage starts, sends the stage its program and
//     writes the container's state.
//   - init ("csrun init", comm "csrun:init"): /proc/self/exe re-executed by
//     clone(2) into the new namespaces, with _CSRUN_INIT=1. It is C
//     (runtime/internal/initstage), run from an ELF constructor before the
//     Go runtime starts, as runc's nsexec is: a Go runtime's start-up cost
//     more than all the stage does. It runs the program the parent compiled
//     from config.json: mounts, the root filesystem, hostname, rlimits,
//     credentials, capabilities and seccomp, then execs the container
//     process in place (same pid).
//   - container process: process.args, pid 1 of the pid namespace if one is
//     asked for.
//
// The protocol, over two pipes and one fifo (a third pipe with hooks, see
// hooks.go for where each kind runs):
//
//	parent                                   init (fd 3 program, 4 sync, 5 state dir)
//	  | parse and validate config.json
//	  | cgroup (runtime/cgroups): create, write
//	  |   limits, attach the device filter
//	  | clone(CLONE_NEW*, CLONE_INTO_CGROUP), uid/gid maps,
//	  | exec /proc/self/exe init ----------------->| C constructor, no Go runtime
//	  | seccomp: cache Get or libseccomp compile   | (while init execs)
//	  | compile config.json + BPF into a program
//	  | program (operations) --------------- fd3 ->| read until EOF
//	  |                                            | mounts
//	  |<------------------ {"type":"hooks"} -- fd4 -| (only with prestart/createRuntime hooks)
//	  | prestart, createRuntime hooks              |
//	  | one byte ---------------------------- fd6 ->| createContainer hooks (fork+exec)
//	  |                                            | pivot_root (or, --no-pivot, MS_MOVE+chroot),
//	  |                                            | hostname, sysctl, masked/read-only paths
//	  |<------------------ {"type":"ready"} -- fd4 -|
//	  | write state.json, pid file                 |
//	  | create: exit here                          | open(<state>/exec.fifo, O_WRONLY) blocks
//	csrun start:                                   |   (only after create; run skips the fifo)
//	  | open(exec.fifo, O_RDONLY), read 1 byte <---| write "0"
//	  | remove exec.fifo                           | startContainer hooks,
//	  |                                            | rlimits, ids, caps, no_new_privs,
//	  |                                            | seccomp(2) of the BPF program
//	  |<------------------ {"type":"exec"} --- fd4 -| (run only: timings so far)
//	  |<------------------------ EOF (O_CLOEXEC) ---| execve(process.args) = container process
//	start and run: poststart hooks once the process is executed.
//	run: wait for the pid, exit with its status, delete the state.
//	delete and run: poststop hooks once the container is gone.
//	Any failure in init: {"type":"error","op":N,...} on fd4, exit 1; the
//	parent names the config.json field operation N came from.
//
// # Root switch
//
// The rootfs is bind-mounted onto itself (pivot_root needs a mount point)
// and csrun calls pivot_root(2) and detaches the old root. If pivot_root
// fails, csrun fails: when the runtime itself runs on an initramfs
// (rootfs) root, pivot_root fails with EINVAL (the initial rootfs can never
// be unmounted), and the error says to switch_root first or to ask for
// Options.NoPivot (csrun --no-pivot, as runc's): mount --move the rootfs
// onto / and chroot("."). The phase timings say which was used
// ("root_switch"). No pivot is less safe: the host root stays reachable to
// a process holding CAP_SYS_CHROOT and an fd outside, so drop that
// capability in such environments.
//
// # Mounts
//
// Each option of a mount is a mount(2) flag, a propagation, one of runc's
// recursive options (applied with mount_setattr(2) and AT_RECURSIVE) or
// data for the filesystem, passed as it is (hidepid=, nsdelegate); a bind
// mount with data is refused, since the kernel would drop it. A "cgroup"
// mount is cgroup2 on a host whose /sys/fs/cgroup is cgroup2 (as runc and
// crun mount it) and refused on a v1 or hybrid host.
//
// # Cgroup
//
// A container that names a cgroup (linux.cgroupsPath) or sets
// linux.resources gets one of its own, cgroup v2 only, made by
// runtime/cgroups before the clone: the limits are written and the device
// rules attached as an eBPF program before any of its code runs, and the
// init stage is cloned straight into it (clone3 CLONE_INTO_CGROUP), so a
// cgroup namespace is rooted there. Without a cgroupsPath the cgroup is
// the container id beside csrun's own, as runc places it. run and delete
// remove a cgroup csrun created. Without either field csrun makes no
// cgroup (runc and crun make one for every container).
//
// # State
//
// <root>/<id>/state.json (written atomically, with the cgroup csrun made), <root>/<id>/exec.fifo while
// the container is created but not started, and the seccomp cache in
// <root>/cache/seccomp/. Status is derived: the init pid alive with the
// recorded start time and the fifo present is "created", alive without it
// "running", otherwise "stopped".
//
// The package reads no environment variables.
package container
