# cgw — the two commands a fresh Debian machine needs (see README.md):
#   sudo make demo   bring the lab up and run cgw through it
#   sudo make test   run every test (what CI runs)
# Go 1.26 must be on PATH or at /usr/local/go/bin.

SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
# Debian packages the tests and the lab need at run time.
DEBS := strongswan-charon strongswan-swanctl libcharon-extra-plugins \
	libstrongswan-standard-plugins nftables tcpdump iputils-ping iproute2 \
	systemd frr qemu-system-x86 busybox-static kmod cpio
BIN := bin

.PHONY: all build deps test check demo bench fuzz fuzz-smoke clean

all: build

build:
	$(GO) build -trimpath -o $(BIN)/cgw ./cmd/cgw
	$(GO) build -trimpath -o $(BIN)/cgwlab ./cmd/cgwlab

# deps installs the Debian packages (skipped when all are present) and the Go modules.
deps:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	$(GO) mod download

# check: formatting and vet, quick.
check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt: not formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# test runs every test with the race detector. Tests that need root skip
# with a reason elsewhere, and fail instead of skipping under CI=true.
test: deps check
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 25m ./...

demo: deps build
	./scripts/demo.sh

# bench prints cgw's figures beside plain strongSwan's on fresh labs (root):
# startup to first ping (cgw run vs swanctl --load-all/--initiate) and the
# failover gap (cgw vs DPD). Read the custom metrics, not ns/op.
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 1x ./gateway/ ./cmd/cgw/ | grep -E '^(Benchmark|ok|FAIL)'

# fuzz runs every fuzzer in the tree (each package with a Fuzz function,
# the diag capture decoders included) for FUZZTIME each, with
# -fuzzminimizetime 0 (minimizing an interesting input would take the whole
# time: FuzzParse ran 51 inputs in 20 s without it, 135,957 with it), and
# prints the executions per fuzzer. It goes on past a failure and fails at
# the end; a crasher is written to the package's testdata/fuzz/FuzzX/, to
# be committed as a regression input (go test then runs it every time).
FUZZTIME ?= 30s
fuzz:
	@pkgs=$$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); \
	summary=""; fail=0; \
	for p in $$pkgs; do \
		for f in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
			echo "== $$p $$f"; \
			out=$$($(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 0 $$p 2>&1); rc=$$?; \
			echo "$$out" | tail -n 4; \
			execs=$$(echo "$$out" | sed -n 's/.*execs: \([0-9]*\).*/\1/p' | tail -n 1); \
			status=ok; [ $$rc = 0 ] || { status=FAILED; fail=1; }; \
			summary="$$summary$$(printf '%-24s %-20s %10s execs  %s' $$f $$p "$${execs:-0}" $$status)"$$'\n'; \
		done; \
	done; \
	echo; echo "fuzz: executions per fuzzer in $(FUZZTIME) each:"; printf '%s' "$$summary"; exit $$fail

# fuzz-smoke runs every fuzzer for 2 s: a smoke test for CI that the
# fuzzers still build, run and find nothing quickly.
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=2s

clean:
	rm -rf $(BIN)
