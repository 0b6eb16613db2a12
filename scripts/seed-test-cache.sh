#!/bin/bash
# Usage: scripts/seed-test-cache.sh DIR
# Fills DIR, a new coldstart cache, with only what make test may use: the
# default test kernel (TEST_KERNEL in the Makefile). The entry is copied
# from the user's cache when that holds it, else fetched; either way
# `coldstart kernels fetch` verifies it against its pinned sha256. Run with
# COLDSTART_CACHE=DIR, make test then fails at once on a test that reaches
# for any other kernel or a kernel build (the guard), and a test that needs
# something else in the cache fetches or builds it as on a new machine.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: scripts/seed-test-cache.sh DIR}
kernel=$(make -s --no-print-directory print-test-kernel)
mkdir -p "$dir/kernels"

user_cache=${XDG_CACHE_HOME:+$XDG_CACHE_HOME/coldstart}
user_cache=${user_cache:-$HOME/.cache/coldstart}
if [[ "$(realpath -m "$user_cache")" != "$(realpath -m "$dir")" ]]; then
	for entry in "$user_cache/kernels/$kernel"-*; do
		[[ -d "$entry" ]] || continue
		cp -a "$entry" "$dir/kernels/"
		echo "seed: copied $(basename "$entry") from $user_cache" >&2
	done
fi
make -s build
COLDSTART_CACHE="$dir" bin/coldstart kernels fetch "$kernel"
