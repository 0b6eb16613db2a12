// Package tree builds and boots the commits of a kernel git tree: a private
// clone of the user's repository (Workspace), the Builder of a commit's
// kernel, and the Measurer that boots built kernels alternately. It is
// what harness/ci (a base and a patched head) and harness/bisect (the
// commits between good and bad) both stand on; neither owns it.
//
// Environment: none directly (see harness/kernels and harness/qemu).
package tree

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Workspace is a private clone of the user's repository (git clone
// --shared: it borrows the repository's objects and copies none), in which
// coldstart checks out, applies patches and runs git bisect. The user's
// checkout, index, branches and bisect state are never touched, and its
// fixed path gives the kernel build one build directory per repository, so
// that successive commits rebuild incrementally.
type Workspace struct {
	Repo string // the user's repository
	Dir  string // the private clone
	lock *os.File
}

// OpenWorkspace clones repo (once) into <cache>/trees/<base>-<hash> and
// locks it for this process. Close releases the lock; the clone is kept.
func OpenWorkspace(ctx context.Context, repo, cache string) (*Workspace, error) {
	abs, err := filepath.Abs(repo)
	if err != nil {
		return nil, err
	}
	top, err := gitOut(ctx, abs, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, fmt.Errorf("%s is not a git repository: %w", abs, err)
	}
	h := sha256.Sum256([]byte(top))
	dir := filepath.Join(cache, "trees", sanitize(filepath.Base(top))+"-"+hex.EncodeToString(h[:])[:12])
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		return nil, fmt.Errorf("%s is in use by another coldstart ci or bisect on %s; wait for it (or remove the lock file if none runs)", dir, top)
	}
	w := &Workspace{Repo: top, Dir: dir, lock: lf}
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		tmp := dir + ".tmp"
		os.RemoveAll(tmp)
		if _, err := gitOut(ctx, "", "clone", "--quiet", "--shared", "--no-checkout", top, tmp); err != nil {
			w.Close()
			return nil, fmt.Errorf("private clone of %s: %w", top, err)
		}
		if err := os.Rename(tmp, dir); err != nil {
			w.Close()
			return nil, err
		}
	}
	// A bisect left over from a killed process (SIGKILL skips the reset).
	_, _ = w.Git(ctx, "bisect", "reset")
	_, _ = w.Git(ctx, "am", "--abort")
	return w, nil
}

// Close releases the workspace lock.
func (w *Workspace) Close() error {
	if w.lock == nil {
		return nil
	}
	err := w.lock.Close()
	w.lock = nil
	return err
}

// Git runs git in the private clone and returns its trimmed stdout.
func (w *Workspace) Git(ctx context.Context, args ...string) (string, error) {
	return gitOut(ctx, w.Dir, args...)
}

// Resolve turns a ref of the user's repository into a full commit hash.
func (w *Workspace) Resolve(ctx context.Context, ref string) (string, error) {
	c, err := gitOut(ctx, w.Repo, "rev-parse", "--verify", "--end-of-options", ref+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("ref %q in %s: %w (is it a commit, tag or branch there?)", ref, w.Repo, err)
	}
	return c, nil
}

// Checkout makes the clone's working tree commit's, discarding anything
// else (the tree is coldstart's own).
func (w *Workspace) Checkout(ctx context.Context, commit string) error {
	head, _ := w.Git(ctx, "rev-parse", "HEAD")
	if head == commit {
		return nil
	}
	_, err := w.Git(ctx, "checkout", "--quiet", "--force", "--detach", commit)
	return err
}

// Apply checks out base and applies the patches of dir (files ending in
// .patch, .diff, .mbox or .eml, in name order) with git am, returning the
// resulting commit. The patched commits live in the clone only.
func (w *Workspace) Apply(ctx context.Context, base, dir string) (string, error) {
	var patches []string
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("--patches: %w", err)
	}
	for _, e := range ents {
		switch filepath.Ext(e.Name()) {
		case ".patch", ".diff", ".mbox", ".eml":
			p, err := filepath.Abs(filepath.Join(dir, e.Name()))
			if err != nil {
				return "", err
			}
			patches = append(patches, p)
		}
	}
	if len(patches) == 0 {
		return "", fmt.Errorf("--patches %s holds no *.patch, *.diff, *.mbox or *.eml files", dir)
	}
	sort.Strings(patches)
	if err := w.Checkout(ctx, base); err != nil {
		return "", err
	}
	args := append([]string{"-c", "user.name=coldstart", "-c", "user.email=coldstart@localhost",
		"am", "--quiet", "--3way", "--committer-date-is-author-date"}, patches...)
	if _, err := w.Git(ctx, args...); err != nil {
		_, _ = w.Git(context.WithoutCancel(ctx), "am", "--abort")
		return "", fmt.Errorf("git am of %d patch(es) from %s onto %.12s: %w", len(patches), dir, base, err)
	}
	return w.Git(ctx, "rev-parse", "HEAD")
}

// IsAncestor reports an error unless commit a is an ancestor of commit b
// in the user's repository.
func (w *Workspace) IsAncestor(ctx context.Context, a, b string) error {
	_, err := gitOut(ctx, w.Repo, "merge-base", "--is-ancestor", a, b)
	return err
}

// Subject is a commit's one-line subject.
func (w *Workspace) Subject(ctx context.Context, commit string) string {
	s, _ := w.Git(ctx, "log", "-1", "--format=%s", commit)
	return s
}

// TreeOf is the hash of a commit's tree: two commits with the same content
// (a patch series applied twice) share it, and so share a build.
func (w *Workspace) TreeOf(ctx context.Context, commit string) (string, error) {
	return w.Git(ctx, "rev-parse", commit+"^{tree}")
}

// GitError is a failed git command with its stderr.
type GitError struct {
	Args   []string
	Err    error
	Stderr string
}

func (e *GitError) Error() string {
	return fmt.Sprintf("git %s: %v: %s", strings.Join(e.Args, " "), e.Err, strings.TrimSpace(e.Stderr))
}

func (e *GitError) Unwrap() error { return e.Err }

func gitOut(ctx context.Context, dir string, args ...string) (string, error) {
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "GIT_TERMINAL_PROMPT=0", "GIT_EDITOR=true")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return stdout.String(), &GitError{Args: args, Err: err, Stderr: stderr.String() + stdout.String()}
	}
	return strings.TrimSpace(stdout.String()), nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
}
