# coldstart: the two commands a user needs are `make matrix` and `make test`.
# Both install what is missing first (scripts/setup.sh).

GO       ?= go
ARGS     ?=
FUZZTIME ?= 2m
# In make test, a count, not a duration: on a loaded machine a time budget can
# run out while the fuzzer is still gathering its baseline, which go test
# reports as a failure (context deadline exceeded).
CI_FUZZ  ?= 3000x
# The one kernel make test may use. Its tests run with the guard
# COLDSTART_FETCH_ONLY (harness/kernels): a test that reaches for another
# kernel or a kernel build fails at once with the reason, rather than
# downloading and building for half an hour on a new machine.
TEST_KERNEL = debian-6.1-cloud
# Packages with goroutines, run again under the race detector.
RACE_PKGS = ./event/... ./harness/qemu/... ./harness/matrix/... ./internal/... ./runtime/... ./cmd/csrun/...

.PHONY: print-test-kernel all setup build csrun matrix test test-long e2e-bisect lint unit fuzz bench bench-runtime clean

all: build

setup:
	@scripts/setup.sh

build:
	CGO_ENABLED=0 $(GO) build -o bin/coldstart ./cmd/coldstart

# csrun, static with libseccomp linked in, as the guest gets it.
csrun:
	CGO_ENABLED=1 $(GO) build -ldflags '-linkmode external -extldflags -static' -o bin/csrun ./cmd/csrun

# The default matrix on the default kernels. Extra flags: make matrix ARGS="--boots 10"
matrix: setup build
	bin/coldstart matrix $(ARGS)

# Every test: format, vet, tidiness, unit and VM integration tests, the race
# detector on concurrent packages, and a short fuzz of each fuzz target.
test: setup lint unit
	@echo "make test: all passed"

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@cp go.mod /tmp/coldstart-go.mod.bak; cp go.sum /tmp/coldstart-go.sum.bak; \
	  $(GO) mod tidy; \
	  if ! cmp -s go.mod /tmp/coldstart-go.mod.bak || ! cmp -s go.sum /tmp/coldstart-go.sum.bak; then \
	    echo "go mod tidy changed go.mod/go.sum: run it and commit"; \
	    cp /tmp/coldstart-go.mod.bak go.mod; cp /tmp/coldstart-go.sum.bak go.sum; exit 1; fi

unit: export COLDSTART_FETCH_ONLY = $(TEST_KERNEL)
unit:
	$(GO) test -count=1 -timeout 30m ./...
	$(GO) test -count=1 -race -timeout 20m $(RACE_PKGS)
	$(GO) test -run '^$$' -fuzz FuzzDecoder -fuzztime $(CI_FUZZ) ./event
	$(GO) test -run '^$$' -fuzz FuzzExtractVmlinux -fuzztime $(CI_FUZZ) ./harness/kernels
	$(GO) test -run '^$$' -fuzz FuzzLoadFile -fuzztime $(CI_FUZZ) ./harness/kernels
	$(GO) test -run '^$$' -fuzz FuzzValidateConfig -fuzztime $(CI_FUZZ) ./runtime/bundle

# The long tests: real kernel builds from Debian's linux-source-6.1 (12-15
# min on 2 cores; once as a Debian package, once through the tarball path and
# the mirror directory), bullseye's gcc-10 fetched and run, and explain on two traced kernels (5+ min under TCG).
test-long: setup build
	bin/coldstart kernels fetch tiny-6.1
	COLDSTART_LONG=1 $(GO) test -count=1 -timeout 60m -run 'TestBuildFromDebianSource|TestBuildFromTarballMirror|TestUnpackToolchainReal|TestExplainRealKernels|TestPanicReportedByQMP' ./harness/kernels/ ./harness/explain/ ./harness/matrix/

# Real kernel: bisect and ci on a 9-commit linux-source-6.1 history (first
# run about an hour on 2 cores, 5 min cached). For a nightly or weekly job,
# not every push.
e2e-bisect: setup build
	scripts/e2e-bisect.sh

# Longer fuzzing, for a quiet machine.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecoder -fuzztime $(FUZZTIME) ./event
	$(GO) test -run '^$$' -fuzz FuzzExtractVmlinux -fuzztime $(FUZZTIME) ./harness/kernels
	$(GO) test -run '^$$' -fuzz FuzzLoadFile -fuzztime $(FUZZTIME) ./harness/kernels
	$(GO) test -run '^$$' -fuzz FuzzValidateConfig -fuzztime $(FUZZTIME) ./runtime/bundle

bench:
	$(GO) test -run '^$$' -bench . -benchtime 20x ./guest/scenario/ ./harness/initramfs/ ./runtime/seccomp/ ./stats/

# csrun, crun and runc on one bundle, interleaved, on the host: medians and
# the ratios csrun/crun and csrun/runc measured in this one run.
bench-runtime: setup csrun
	CSRUN=bin/csrun scripts/bench-runtime.sh

print-test-kernel:
	@echo $(TEST_KERNEL)

clean:
	rm -rf bin
