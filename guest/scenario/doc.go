// Package scenario runs the kernel primitives behind container start-up,
// as the real system calls, one iteration at a time, and times them.
//
// # Scenarios
//
// Each scenario (see [All]) creates one or more namespaces in a fresh child
// process: netns, ipcns, utsns, pidns, mntns, userns, cgroupns, mqueue (new
// mount and IPC namespaces, then a mount of an mqueue file system in the
// child, as a container runtime does) and clone-all (the namespace set a
// rootful runtime asks for). One call to [Scenario.Run] is one iteration and
// yields one [event.Sample]:
//
//   - WallNS: from just before the clone system call to the parent's return
//     from wait4 (create, exit, teardown, reap: what `unshare -n true`
//     measures, less the exec). Teardown that the kernel defers to a work
//     queue (network namespaces are cleaned up by cleanup_net) is not in it.
//   - OpNS: the system call alone. For the namespace scenarios that is the
//     clone as seen by the parent; for mqueue it is the mount(2), timed by
//     the child itself.
//   - UserNS, SysNS: the child's rusage, from wait4.
//
// All times are CLOCK_MONOTONIC deltas: the parent reads the clock through
// the Go runtime (time.Now's monotonic reading, which is CLOCK_MONOTONIC on
// Linux); the mqueue child reads it with raw clock_gettime system calls.
//
// # Technique
//
// A Go process is always multi-threaded, so unshare(CLONE_NEWUSER) fails in
// it, and running Go code in a raw-forked child is unsafe. So the child runs
// no Go code at all. A small assembly function (clone_amd64.s) issues the raw
// clone system call with CLONE_VM | <namespace flags> | SIGCHLD and a stack
// pointer of 0: the child shares the parent's memory and, for a moment, its
// stack. The child therefore touches no memory that Go owns: it executes
// only register moves and system calls, and ends with exit_group(0).
//
//	parent (goroutine locked to its thread)    child (same mm, same SP)
//	---------------------------------------    -------------------------------
//	rt_sigprocmask(SETMASK, all, &old)
//	t0 = now
//	clone(VM|NEW*|SIGCHLD, sp=0) ───────────►  returns 0, inherits full mask
//	t1 = now                                   [mqueue: clock_gettime(page+0)
//	rt_sigprocmask(SETMASK, &old)               mount("mqueue", page+256, ...)
//	wait4(pid, &status, 0, &rusage) ◄──┐        clock_gettime(page+16)
//	t2 = now                           │        page+32 = mount's result]
//	                                   └─────  exit_group(0): namespaces torn
//	                                           down, SIGCHLD, zombie reaped
//
// Why it is safe: the child's only writes go to an mmap'd page that Go does
// not manage (the mqueue timestamps and the mount result). The kernel writes
// to a task's stack only to deliver a signal handler's frame; every signal
// is blocked on the parent's thread just before the clone, so the child
// starts with every signal blocked (SIGKILL and SIGSTOP cannot be blocked,
// and neither runs a handler). The parent restores its mask right after the
// clone returns; the goroutine stays locked to its thread for the whole
// iteration. No CLONE_*SETTID or CLONE_CHILD_CLEARTID flag is passed, so the
// kernel writes nothing into the shared memory on the child's behalf; with
// CLONE_VM the kernel also resets the child's sigaltstack and rseq area.
//
// The clone is a raw system call, not one the Go scheduler knows about:
// while it runs (milliseconds for a network namespace under emulation) the
// goroutine keeps its P, as in syscall.RawSyscall.
//
// # Mount propagation
//
// The mqueue child mounts on a directory the package creates (see
// [Prepare]). A new mount namespace copies the parent's mounts together with
// their propagation: had the parent's mounts been shared, the child's mount
// would show up in the parent's namespace and outlive the child. [Prepare]
// therefore makes "/" recursively private in the calling thread's mount
// namespace (in the guest: the agent's, once), and Run refuses the mqueue
// scenario in a mount namespace that Prepare has not made private.
//
// # Unsupported scenarios
//
// A scenario the kernel cannot run is reported as an *[UnsupportedError]
// naming the kernel option (or sysctl) it lacks, never as a failure:
// [Scenario.Check] looks for /proc/self/ns/<ns>, for "mqueue" in
// /proc/filesystems and for a zero /proc/sys/user/max_<ns>_namespaces; Run
// maps ENODEV from the mqueue mount the same way, and EINVAL from clone
// only when one of those checks finds the namespace type absent: EINVAL
// from a kernel that has the namespace is a failure with its errno (a
// kernel that breaks namespace creation must not pass as "unsupported").
//
// # Environment
//
// The package reads TMPDIR only, through os.TempDir, to place the mqueue
// mount point. It needs root (CAP_SYS_ADMIN) and runs on linux/amd64; on
// other architectures every scenario is unsupported.
package scenario
