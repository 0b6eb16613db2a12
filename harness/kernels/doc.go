// Package kernels turns a declarative kernel file (kernels/*.toml) into a
// verified kernel image on disk, ready to hand to QEMU's -kernel.
//
// # Kernel files
//
// Each kernel is one TOML file with a stable name, an upstream version (used
// for ordering) and a source. Load reads a directory of them, LoadFile one;
// both reject unknown keys and report the file, the field, what is wrong and
// what to do. Sources:
//
//   - "debian": a linux-image package pinned by suite, exact Debian version
//     and the SHA-256 of the .deb; [debian.config] optionally pins a second
//     package holding the config (sid's linux-base-*, whose image is in
//     linux-binary-*).
//   - "gomod": an image inside a Go module (gokrazy's kernels), pinned by
//     module, exact version and the SHA-256 of the file (plus, optionally,
//     the go.sum h1: hash of the module). Fetched with go mod download -json
//     into a private module cache, <cache>/gomod, never into a go.mod.
//   - "build": a kernel built from a source tree (a directory, a git ref in a
//     repository, a source tarball pinned by SHA-256 and looked for first in
//     <cache>/mirror, or a Debian linux-source-X.Y package) with a config
//     fragment; see Build.
//   - "file": a bzImage or an ELF vmlinux already on disk, optionally pinned
//     by SHA-256.
//
// A new source is a new section struct, a field in Kernel and a case in
// validate, Fetcher.Fetch, Fetcher.Status and (if it can go stale)
// Fetcher.Update.
//
// # Stale pins
//
// Archives drop superseded versions. A pinned Debian package that is gone
// gives a *StaleError (wrapping ErrPackageNotFound) naming the newest package
// of the same series still served (Series: same kind, major.minor and
// flavour); Fetcher.Update finds that re-pin and RewriteKernelFile writes it
// into the kernel file, keeping comments, atomically.
//
// # Building
//
// Fetcher.Build runs, in an out-of-tree directory <cache>/build/<name>-<key>
// keyed by the tree's identity and the fragment's content: make tinyconfig,
// the fragment appended, make olddefconfig, then checks every option of the
// fragment against the result (CheckFragment: a required option that did not
// survive is a *FragmentError listing them all; an option marked
// "# optional" may be missing, as on 4.x trees), then make bzImage. ccache
// is used when installed (CCACHE_DIR defaults to <cache>/ccache). Each step's
// output is kept in logs/<step>.log in the build directory. Debian source
// packages are unpacked (never installed) into <cache>/src/; a git ref is
// exported with git archive into <cache>/src/git-<commit>/, leaving the
// repository alone.
//
// # Toolchains
//
// A build reads the tree's version and facts (ProbeTree) and picks the
// compiler of its era (ChooseToolchain): before 5.10, gcc-9 or gcc-10 with
// binutils 2.35.2 from Debian bullseye, pinned by SHA-256, fetched through
// the private APT state and unpacked with dpkg -x into
// <cache>/toolchains/<id>/; the system's gcc from 5.10. Per-era flags
// (-fno-PIE, CONFIG_RELOCATABLE off, -Wno-use-after-free for the host
// compiler) are applied through wrapper scripts in the build directory and
// printed, each with its reason, on Progress and in logs/toolchain.txt.
// The toolchain and flags are part of the build key.
//
// # Config awareness
//
// Image.KernelConfig reads the kernel's config: the package's config file,
// the build's .config, or the config embedded in the image (IKCONFIG,
// ExtractIKConfig). Image.Options and Image.MissingOptions map scenario
// option lists ("CONFIG_NET_NS,CONFIG_IPC_NS") to present or missing, so a
// scenario can be marked unsupported before booting.
//
// # Progress
//
// Fetches and builds report steps on Fetcher.Progress: one line when a step
// starts and one when it ends, or, with Fetcher.Interactive (a terminal, not
// CI), one line redrawn in place with bytes and percent of a download or the
// current make action.
//
// # Fetching from Debian
//
// Fetcher.Fetch drives apt-get through a private APT directory,
// <cache>/apt/<suite>/, with its own sources file, lists, package caches,
// status file, preferences, an empty sources.list.d and its own apt.conf
// (passed as APT_CONFIG). The system's APT state is never modified and its
// configuration is not read (no sources, preferences or update hooks), except
// for two things: its Acquire::*::Proxy settings, copied from
// apt-config dump, and its keyrings. The mirror URI and keyring come from the
// machine's own APT sources (/etc/apt/sources.list and
// /etc/apt/sources.list.d/*.list, *.sources): for a "-security" suite, the
// entry that has a "-security" suite; otherwise, the other Debian entry. Only
// the suite changes. The lists are refreshed when missing, older than a day,
// or when the pinned version is not found. A suite whose Release file is past
// its Valid-Until date (a lagging or frozen mirror; sid's is valid for a week)
// is refreshed again with Acquire::Check-Valid-Until=false, with a warning:
// its signature is still checked and every package is pinned by SHA-256. apt-get downloads the package by
// exact name and version, with APT::Cmd::Pattern-Only set so that a name it
// cannot find is never retried as a regular expression. As root it runs with
// APT::Sandbox::User=root, because the _apt user cannot enter a cache under
// /root. The .deb's SHA-256 is checked against the pin. Only boot/vmlinuz-*
// and boot/config-* are extracted (for sid-style packages,
// usr/lib/modules/<release>/vmlinuz and config), under names this package
// chooses.
//
// # Cache and verification
//
// Images live in <cache>/kernels/<name>-<sha256[:12]>/, where <cache> is
// $COLDSTART_CACHE, else $XDG_CACHE_HOME/coldstart, else
// $HOME/.cache/coldstart. The .deb is not kept: a small manifest
// (manifest.json) records the SHA-256 of every extracted or derived file
// and is written last. On every use each file named in the manifest is hashed
// again; an entry that fails verification is reported on the progress writer,
// discarded and rebuilt. Every file is written to a temporary file in the same
// directory, fsynced and renamed into place, so a crash never leaves a partial
// file under a name that would be trusted. For source = "file" the image is
// not copied: it is hashed on every use (its hash is part of the cache key)
// and only the vmlinux derived from it is cached. Fetches of the same kernel,
// in one process or several, take turns on a lock file (flock).
//
// # vmlinux extraction
//
// Under TCG, booting the uncompressed ELF through its PVH entry point is several
// times faster than letting the bzImage decompress itself. ExtractVmlinux reads
// the bzImage setup header, decompresses the payload (gzip, xz with or without
// the x86 BCJ filter, zstd, lz4 legacy, bzip2, lzma; not lzo) in Go, checks that
// the result is an x86-64 ELF and trims what follows it (e.g. relocations);
// HasPVH looks for the Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY). Image.Vmlinux
// is set only when the kernel has that note; Image.VmlinuxErr says why not
// otherwise. Image.Boot returns the path to give to -kernel.
//
// # Environment
//
// COLDSTART_CACHE, XDG_CACHE_HOME and HOME choose the cache directory
// (DefaultCacheDir); CCACHE_DIR, when set, is left to ccache. Nothing else is
// read from the environment. apt-get, dpkg-deb, go and make inherit it (so
// http_proxy and GOPROXY work), with APT_CONFIG, LC_ALL=C and
// DEBIAN_FRONTEND=noninteractive set for apt-get, GOMODCACHE,
// GOFLAGS=-modcacherw, GO111MODULE=on and GOWORK=off for go, and LC_ALL=C,
// KBUILD_BUILD_USER and KBUILD_BUILD_HOST for make.
package kernels
