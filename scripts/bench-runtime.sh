#!/usr/bin/env bash
# bench-runtime.sh: start-up of csrun, crun and runc on the same bundle, on
# the host, interleaved (every iteration runs every variant once, in an order
# rotated per iteration), and prints medians and the ratios csrun/crun and
# csrun/runc measured in this one run.
#
# Variants: seccomp off ("none"); the default profile (profiles/default.json)
# compiled every time ("default": csrun --no-seccomp-cache; crun 1.8 keeps
# its own BPF cache, so its "default" is cached); csrun with its BPF cache
# ("cached", warmed once before timing).
#
# Each sample is the wall time of one `RUNTIME run` of a static /bin/true
# (create, start, wait, delete), taken with bash's $EPOCHREALTIME around the
# command. Runs as root in a private mount namespace with cgroup2 mounted on
# /sys/fs/cgroup (crun refuses the host's hybrid layout) and the state roots
# on a tmpfs, as /run is on a real system. csrun's phase timings go to the
# same tmpfs: they are written atomically (fsync), which on a busy disk cost
# csrun/cached 5 ms that crun, writing none, does not pay.
#
# With CSRUN_BASELINE (another csrun binary, e.g. built from main) the
# baseline runs interleaved too, with its cache ("baseline"), and the table
# adds csrun/baseline: before and after in one run, on one machine state.
#
# Environment: N (iterations, default 30), CSRUN (prebuilt csrun binary;
# default: built here with the static build command), CSRUN_BASELINE.
set -euo pipefail

if [[ "${_CSBENCH_INNER:-}" != 1 ]]; then
	[[ $(id -u) == 0 ]] || { echo "bench-runtime: needs root (namespaces, mounts)" >&2; exit 2; }
	for t in crun runc gcc jq unshare; do
		command -v "$t" >/dev/null || { echo "bench-runtime: $t not found" >&2; exit 2; }
	done
	repo=$(cd "$(dirname "$0")/.." && pwd)
	work=$(mktemp -d /tmp/bench-runtime.XXXXXX)
	trap 'rm -rf "$work"' EXIT
	if [[ -n "${CSRUN_BASELINE:-}" ]]; then
		cp "$CSRUN_BASELINE" "$work/csrun-baseline"
	fi
	if [[ -n "${CSRUN:-}" ]]; then
		cp "$CSRUN" "$work/csrun"
	else
		(cd "$repo" && CGO_ENABLED=1 go build -ldflags '-linkmode external -extldflags -static' -o "$work/csrun" ./cmd/csrun)
	fi
	mkdir -p "$work/rootfs/bin" "$work/none" "$work/default"
	printf 'int main(void){return 0;}\n' >"$work/true.c"
	gcc -static -Os -o "$work/rootfs/bin/true" "$work/true.c"
	(cd "$work/none" && runc spec)
	jq --arg r "$work/rootfs" 'del(.linux.resources) | .root.path=$r | .process.terminal=false | .process.args=["/bin/true"]' \
		"$work/none/config.json" >"$work/none/c" && mv "$work/none/c" "$work/none/config.json"
	jq --slurpfile p "$repo/profiles/default.json" '.linux.seccomp=$p[0]' "$work/none/config.json" >"$work/default/config.json"
	export _CSBENCH_INNER=1 WORK="$work" N="${N:-30}"
	exec unshare --mount --propagation private "$0" "$@"
fi

# Inside the private mount namespace.
mount -t cgroup2 none /sys/fs/cgroup
mkdir -p "$WORK/state"
mount -t tmpfs tmpfs "$WORK/state"
cd "$WORK"
S=$WORK/state
timings=$S/timings
mkdir -p "$timings"

run_variant() { # name iteration
	local name=$1 id="b$2" bundle
	case $1 in
	*/none) bundle=$WORK/none ;;
	*) bundle=$WORK/default ;;
	esac
	case $1 in
	csrun/none) set -- ./csrun --root "$S/csrun" run --bundle "$bundle" "$id" ;;
	csrun/default) set -- ./csrun --root "$S/csrun" --no-seccomp-cache run --bundle "$bundle" "$id" ;;
	csrun/cached) set -- ./csrun --root "$S/csrun" --phase-timings "$timings/$2.json" run --bundle "$bundle" "$id" ;;
	baseline/cached) set -- ./csrun-baseline --root "$S/baseline" --phase-timings "$timings/base-$2.json" run --bundle "$bundle" "$id" ;;
	crun/*) set -- crun --root "$S/crun" run --bundle "$bundle" "$id" ;;
	runc/*) set -- runc --root "$S/runc" run --bundle "$bundle" "$id" ;;
	esac
	local t0=$EPOCHREALTIME
	"$@" </dev/null >/dev/null 2>"$WORK/err" || { echo "bench-runtime: $* failed:" >&2; cat "$WORK/err" >&2; exit 1; }
	local t1=$EPOCHREALTIME
	echo $(( ${t1/./} - ${t0/./} )) >>"$WORK/${name/\//_}.us"
}

variants=(csrun/none crun/none runc/none csrun/default crun/default runc/default csrun/cached)
[[ -x ./csrun-baseline ]] && variants+=(baseline/cached)
# Warm up: page cache, crun's and csrun's BPF caches.
for v in "${variants[@]}"; do run_variant "$v" w; done
rm -f "$WORK"/*.us "$timings"/*
for ((i = 0; i < N; i++)); do
	for ((j = 0; j < ${#variants[@]}; j++)); do
		run_variant "${variants[$(((i + j) % ${#variants[@]}))]}" "$i"
	done
done

median() { sort -n "$1" | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m/1000}'; }
declare -A med
for v in "${variants[@]}"; do med[$v]=$(median "$WORK/${v/\//_}.us"); done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }

echo "bench-runtime: $N interleaved iterations, medians of wall time per 'run' (ms)"
echo "kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), crun $(crun --version | head -1 | awk '{print $3}'), runc $(runc --version | head -1 | awk '{print $3}')"
printf '%-10s %10s %10s %10s %12s %12s\n' seccomp csrun crun runc csrun/crun csrun/runc
for s in none default; do
	printf '%-10s %10s %10s %10s %12s %12s\n' "$s" "${med[csrun/$s]}" "${med[crun/$s]}" "${med[runc/$s]}" \
		"$(ratio "${med[csrun/$s]}" "${med[crun/$s]}")" "$(ratio "${med[csrun/$s]}" "${med[runc/$s]}")"
done
printf '%-10s %10s %10s %10s %12s %12s\n' "cached" "${med[csrun/cached]}" "${med[crun/default]}" "${med[runc/default]}" \
	"$(ratio "${med[csrun/cached]}" "${med[crun/default]}")" "$(ratio "${med[csrun/cached]}" "${med[runc/default]}")"
echo "(cached: csrun with its BPF cache vs crun and runc with the default profile)"
if [[ -n ${med[baseline/cached]:-} ]]; then
	echo "baseline   ${med[baseline/cached]} ms cached; csrun/baseline $(ratio "${med[csrun/cached]}" "${med[baseline/cached]}"), baseline/crun $(ratio "${med[baseline/cached]}" "${med[crun/default]}")"
fi
phases() { # label files...
	echo
	echo "$1 phase medians (ms, from --phase-timings):"
	shift
	jq -s -r '[.[].phases[]] | group_by(.name) | map({n: .[0].name, s: (map(.start_ns) | sort | .[length/2|floor]), d: (map(.dur_ns) | sort | .[length/2|floor])}) | sort_by(.s) | .[] | "  \(.n)\t\(.d/1e6*100|round/100)"' "$@"
	jq -s -r '"  total\t\(([.[].total_ns] | sort | .[length/2|floor])/1e6*100|round/100)   cache hits: \([.[] | select(.seccomp_cache_hit)] | length)/\(length)"' "$@"
}
phases csrun/cached "$timings"/[0-9]*.json
if [[ -n ${med[baseline/cached]:-} ]]; then
	phases baseline/cached "$timings"/base-*.json
fi
