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
# The version cgw reports (cgw --version, cgw version --json).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build deps test check demo bench fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/cgw ./cmd/cgw
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/cgwlab ./cmd/cgwlab

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

# fuzz runs every parser fuzzer for FUZZTIME each.
FUZZTIME ?= 30s
fuzz:
	@for f in $$($(GO) test -list 'Fuzz.*' ./gateway/awsconf/ | grep ^Fuzz); do \
		echo "== $$f"; $(GO) test -run XXX -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./gateway/awsconf/ || exit 1; \
	done

clean:
	rm -rf $(BIN)
