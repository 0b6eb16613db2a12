#!/bin/bash
# Installs what coldstart needs on a Debian 12 machine, and nothing that is
# already there. As root it installs; otherwise it prints the one command to
# run. Called by `make setup`, which `make matrix` and `make test` call.
set -euo pipefail

# Debian packages: QEMU to boot kernels, libseccomp for csrun, the two
# reference runtimes, the tools the kernel fetcher uses, what building a
# kernel from source needs (the default matrix holds one, and ci/bisect
# build every step), and what the report tests check with (a JUnit schema
# validator, headless Chromium).
packages=(qemu-system-x86 libseccomp-dev crun runc cpio dpkg apt gcc libxml2-utils chromium
	make git flex bison bc libelf-dev libssl-dev dwarves xz-utils)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if ((${#missing[@]} > 0)); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "coldstart needs these Debian packages: ${missing[*]}" >&2
		echo "run: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	# A fresh machine may have no package lists yet.
	if ! apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/coldstart-apt.log 2>&1; then
		apt-get update >/tmp/coldstart-apt.log 2>&1 || { cat /tmp/coldstart-apt.log >&2; exit 1; }
		apt-get install -y --no-install-recommends "${missing[@]}" >>/tmp/coldstart-apt.log 2>&1 ||
			{ tail -30 /tmp/coldstart-apt.log >&2; echo "setup: apt-get install failed; the log is /tmp/coldstart-apt.log" >&2; exit 1; }
	fi
fi

if ! command -v go >/dev/null; then
	echo "setup: no go command on PATH; install Go $(sed -n 's/^go //p' go.mod) or newer" >&2
	exit 1
fi
# Go modules, so that tests and builds do not each fetch them.
go mod download
echo "setup: ok ($(qemu-system-x86_64 --version | head -1), $(go version | cut -d' ' -f3))" >&2
