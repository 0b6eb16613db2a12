package scenario

// cloneSupported reports whether rawClone is implemented on this GOARCH.
const cloneSupported = true

// rawClone issues clone(flags, newsp=0, 0, 0, 0) and returns the child's pid
// in the parent, or -errno. The child shares the caller's memory and stack
// (flags must include CLONE_VM) and runs only clone_amd64.s's register-only
// code for mode, then exit_group. page must point to a pageSize mapping
// that stays mapped until the child is reaped (and is ignored for
// modeExit); rfd and wfd are used by modeWait only. The caller must have
// blocked every signal on its thread (see clone).
//
//go:noescape
func rawClone(flags, mode, page, rfd, wfd uintptr) (ret int64)
