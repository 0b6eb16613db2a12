// The raw clone behind every scenario. See clone_amd64.go and the package
// comment: the child shares our memory AND our stack (CLONE_VM, newsp = 0),
// so from the moment clone returns 0 it may only move registers and make
// system calls. Its only memory writes go to the mmap'd page (R13), never
// to the stack. Linux's SYSCALL clobbers AX, CX and R11 only, so everything
// the child needs is loaded into other registers before the clone.

#include "textflag.h"
#include "go_asm.h"

#define SYS_read		0
#define SYS_close		3
#define SYS_clone		56
#define SYS_mount		165
#define SYS_clock_gettime	228
#define SYS_exit_group		231
#define CLOCK_MONOTONIC		1

// func rawClone(flags, mode, page, rfd, wfd uintptr) (ret int64)
TEXT ·rawClone(SB),NOSPLIT|NOFRAME,$0-48
	// Everything the child will use, loaded while we may still read our
	// frame. R12-R14 and BX survive SYSCALL and are free in ABI0.
	MOVQ	mode+8(FP), R12
	MOVQ	page+16(FP), R13
	MOVQ	rfd+24(FP), R14
	MOVQ	wfd+32(FP), BX
	MOVQ	flags+0(FP), DI	// flags (CLONE_VM | CLONE_NEW* | SIGCHLD)
	MOVQ	$0, SI		// newsp = 0: keep the current stack pointer
	MOVQ	$0, DX		// parent_tid
	MOVQ	$0, R10		// child_tid
	MOVQ	$0, R8		// tls
	MOVL	$SYS_clone, AX
	SYSCALL
	CMPQ	AX, $0
	JEQ	child
	// Parent: pid, or -errno in [-4095, -1].
	MOVQ	AX, ret+40(FP)
	RET

child:
	// From here on: no stack, no FP, no CALL, no PUSH. Every signal is
	// blocked (inherited mask), so the kernel writes no signal frame.
	CMPQ	R12, $const_modeMount
	JEQ	mount
	CMPQ	R12, $const_modeWait
	JEQ	wait

exit0:
	MOVQ	$0, DI
exit:
	MOVL	$SYS_exit_group, AX
	SYSCALL
	JMP	exit		// not reached

mount:
	// clock_gettime(CLOCK_MONOTONIC, page+offT0)
	MOVQ	$CLOCK_MONOTONIC, DI
	LEAQ	const_offT0(R13), SI
	MOVL	$SYS_clock_gettime, AX
	SYSCALL
	// mount(page+offSrc, page+offTarget, page+offFstype, 0, NULL)
	LEAQ	const_offSrc(R13), DI
	LEAQ	const_offTarget(R13), SI
	LEAQ	const_offFstype(R13), DX
	MOVQ	$0, R10
	MOVQ	$0, R8
	MOVL	$SYS_mount, AX
	SYSCALL
	MOVQ	AX, R14		// keep mount's result in a register
	// clock_gettime(CLOCK_MONOTONIC, page+offT1)
	MOVQ	$CLOCK_MONOTONIC, DI
	LEAQ	const_offT1(R13), SI
	MOVL	$SYS_clock_gettime, AX
	SYSCALL
	MOVQ	R14, const_offResult(R13)	// page, not stack
	JMP	exit0

wait:
	// Test mode: close our copy of the pipe's write end, block in
	// read(rfd, page+offByte, 1), exit 0 if one byte arrived, else 1.
	MOVQ	BX, DI
	MOVL	$SYS_close, AX
	SYSCALL
	MOVQ	R14, DI
	LEAQ	const_offByte(R13), SI
	MOVQ	$1, DX
	MOVL	$SYS_read, AX
	SYSCALL
	CMPQ	AX, $1
	JEQ	exit0
	MOVQ	$1, DI
	JMP	exit
