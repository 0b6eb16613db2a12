package container

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Hooks run where the runtime-spec puts them:
//
//   - prestart (deprecated) and createRuntime: by the parent, in its
//     namespaces, while the init stage waits after the mounts and before
//     the root switch (its HooksSync); a failure fails the create.
//   - createContainer: by the init stage, in the container's namespaces,
//     before the root switch; a failure fails the create.
//   - startContainer: by the init stage, after start and before the
//     container process is executed, path resolved in the new root; a
//     failure fails the start.
//   - poststart: by csrun start (or run) once the process is started, and
//     poststop: by delete (or run) once the container is gone; a failure
//     is a warning on stderr and the rest go on, as the spec asks.
//
// Each gets the container's state as JSON on stdin.

// hookState is the state JSON a hook reads on its stdin.
func hookState(st specs.State, status specs.ContainerState) []byte {
	st.Status = status
	data, _ := json.Marshal(st)
	return data
}

// runHooks runs hooks in order, stopping at the first failure.
func runHooks(ctx context.Context, field string, hooks []specs.Hook, state []byte, stdout, stderr io.Writer) error {
	for i, h := range hooks {
		if err := runHook(ctx, h, state, stdout, stderr); err != nil {
			return fmt.Errorf("%s[%d] %s: %w", field, i, h.Path, err)
		}
	}
	return nil
}

func runHook(ctx context.Context, h specs.Hook, state []byte, stdout, stderr io.Writer) error {
	if h.Timeout != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = bytes.NewReader(state)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("killed after its timeout of %ds", *h.Timeout)
	}
	return err
}

// warnHooks runs hooks whose failure is only a warning (poststart,
// poststop): each failure is printed and the rest still run.
func warnHooks(field string, hooks []specs.Hook, state []byte, stdout, stderr io.Writer) {
	for i, h := range hooks {
		if err := runHook(context.Background(), h, state, stdout, stderr); err != nil {
			fmt.Fprintf(stderr, "csrun: warning: %s[%d] %s: %v\n", field, i, h.Path, err)
		}
	}
}

// hookTimeoutMS is a hook's timeout for the init stage (0: none).
func hookTimeoutMS(h specs.Hook) uint64 {
	if h.Timeout == nil {
		return 0
	}
	return uint64(*h.Timeout) * 1000
}
