# cgw — the two commands a fresh Debian machine needs (see README.md):
#   sudo make demo   bring the lab up and run cgw through it
#   sudo make test   run every test (what CI runs)
# and for installing: make deb (bin/cgw_VERSION_ARCH.deb), make deb-lint,
# make build docs && sudo make install (PREFIX=/usr/local, DESTDIR).
# Go 1.26 must be on PATH or at /usr/local/go/bin.

SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
# Debian packages the tests and the lab need at run time.
DEBS := strongswan-charon strongswan-swanctl libcharon-extra-plugins \
	libstrongswan-standard-plugins nftables tcpdump iputils-ping iproute2 \
	systemd frr qemu-system-x86 busybox-static kmod cpio lintian strace tshark time stress-ng iperf3
BIN := bin
# The version cgw reports (cgw --version, cgw version --json).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build deps test check demo bench fuzz fuzz-smoke clean docs install deb deb-lint

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

# check: formatting and vet, quick; and the !linux stubs still build
# (cgw runs on Linux only, but its packages must say so, not fail to compile).
check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt: not formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags gendocs ./cmd/cgw
	GOOS=darwin $(GO) build ./...
	GOOS=darwin $(GO) vet ./...

# test runs every test with the race detector. Tests that need root skip
# with a reason elsewhere, and fail instead of skipping under CI=true.
test: deps check
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 25m ./...
	@$(MAKE) --no-print-directory fuzz-smoke

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

# Where `make install` puts cgw (PREFIX, DESTDIR as usual). charon reads
# only /etc/strongswan.d, so SYSCONFDIR stays /etc whatever the PREFIX.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/vendor-completions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
# Man pages carry the commit's date, not the build's.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH

# docs writes the man pages (cobra's doc package) and the bash, zsh and fish
# completion scripts, from a cgw built with -tags gendocs (the hidden
# `cgw gen-docs`; the cgw that ships does not carry cobra/doc).
docs:
	$(GO) build -trimpath -tags gendocs -ldflags "$(LDFLAGS)" -o $(BIN)/cgw-gendocs ./cmd/cgw
	rm -rf $(BIN)/docs
	$(BIN)/cgw-gendocs gen-docs --man $(BIN)/docs/man --completion $(BIN)/docs/completion

# install: the binary, the systemd unit (its paths rewritten to BINDIR), the
# charon snippet, the example configuration, man pages and completion.
# INSTALLBIN is the binary installed; INSTALL_DEPS what is built first.
INSTALLBIN ?= $(BIN)/cgw
INSTALL_DEPS ?= build docs
install: $(INSTALL_DEPS)
	install -D -m 0755 $(INSTALLBIN) $(DESTDIR)$(BINDIR)/cgw
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed 's|/usr/local/bin/cgw|$(BINDIR)/cgw|g' configs/cgw.service >$(DESTDIR)$(UNITDIR)/cgw.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/cgw.service
	install -D -m 0644 configs/strongswan.d/cgw.conf $(DESTDIR)$(SYSCONFDIR)/strongswan.d/cgw.conf
	install -d -m 0750 $(DESTDIR)$(SYSCONFDIR)/cgw
	install -m 0644 configs/cgw.example.yaml $(DESTDIR)$(SYSCONFDIR)/cgw/cgw.yaml.example
	install -d -m 0755 $(DESTDIR)$(MANDIR)/man1
	for m in $(BIN)/docs/man/*.1; do gzip -9n <$$m >$(DESTDIR)$(MANDIR)/man1/$${m##*/}.gz; chmod 0644 $(DESTDIR)$(MANDIR)/man1/$${m##*/}.gz; done
	install -D -m 0644 $(BIN)/docs/completion/cgw.bash $(DESTDIR)$(BASHCOMPDIR)/cgw
	install -D -m 0644 $(BIN)/docs/completion/_cgw $(DESTDIR)$(ZSHCOMPDIR)/_cgw
	install -D -m 0644 $(BIN)/docs/completion/cgw.fish $(DESTDIR)$(FISHCOMPDIR)/cgw.fish

# deb builds bin/cgw_VERSION_ARCH.deb with dpkg-deb from this tree
# (packaging/debian: control template, maintainer scripts, copyright,
# lintian overrides): make install into a staging root with PREFIX=/usr and
# /lib/systemd/system for the unit (Debian 12), a stripped cgw, its libc
# dependency from dpkg-shlibdeps, md5sums of all but the conffiles.
DEB_ARCH ?= $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB_VERSION ?= $(shell v='$(VERSION)'; v=$${v#v}; case $$v in ([0-9]*.*) ;; (*) v="0.0~git$$(git rev-list --count HEAD 2>/dev/null || echo 0).$$v";; esac; echo "$$v" | tr - +)
DEB := $(BIN)/cgw_$(DEB_VERSION)_$(DEB_ARCH).deb
DEBROOT := $(BIN)/deb/root
deb: docs
	$(GO) build -trimpath -buildmode=pie -ldflags "$(LDFLAGS) -s -w -linkmode=external -extldflags=-Wl,-z,relro,-z,now" -o $(BIN)/deb/cgw ./cmd/cgw
	rm -rf $(DEBROOT) $(BIN)/deb/debian $(BIN)/cgw_*.deb
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(DEBROOT)) PREFIX=/usr UNITDIR=/lib/systemd/system \
		INSTALLBIN=$(BIN)/deb/cgw INSTALL_DEPS=
	install -D -m 0644 packaging/debian/copyright $(DEBROOT)/usr/share/doc/cgw/copyright
	install -D -m 0644 packaging/debian/cgw.lintian-overrides $(DEBROOT)/usr/share/lintian/overrides/cgw
	sed 's/@VERSION@/$(DEB_VERSION)/; s/@DATE@/'"$$(date -R -u -d @$(SOURCE_DATE_EPOCH))"'/' packaging/debian/changelog >$(BIN)/deb/changelog
	gzip -9n <$(BIN)/deb/changelog >$(DEBROOT)/usr/share/doc/cgw/changelog.gz
	chmod 0644 $(DEBROOT)/usr/share/doc/cgw/changelog.gz
	install -d -m 0755 $(DEBROOT)/DEBIAN $(BIN)/deb/debian
	for f in postinst prerm postrm; do install -m 0755 packaging/debian/$$f $(DEBROOT)/DEBIAN/$$f; done
	install -m 0644 packaging/debian/conffiles $(DEBROOT)/DEBIAN/conffiles
	printf 'Source: cgw\n\nPackage: cgw\nArchitecture: any\n' >$(BIN)/deb/debian/control
	shlibs=$$(cd $(BIN)/deb && dpkg-shlibdeps -O root/usr/bin/cgw | sed -n 's/^shlibs:Depends=//p'); \
	sed -e 's/@VERSION@/$(DEB_VERSION)/' -e 's/@ARCH@/$(DEB_ARCH)/' -e "s/@SHLIBS@/$${shlibs:+$$shlibs, }/" \
		-e "s/@SIZE@/$$(du -sk --exclude=DEBIAN $(DEBROOT) | cut -f1)/" packaging/debian/control >$(DEBROOT)/DEBIAN/control
	cd $(DEBROOT) && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum >DEBIAN/md5sums
	chmod 0644 $(DEBROOT)/DEBIAN/md5sums
	find $(DEBROOT) -exec touch -h -d @$(SOURCE_DATE_EPOCH) {} +
	dpkg-deb --root-owner-group -Zxz --build $(DEBROOT) $(DEB)
	@echo "built $(DEB)"

# deb-lint runs lintian on the package (overrides: packaging/debian/cgw.lintian-overrides).
deb-lint: deb
	lintian --fail-on error,warning --info $(DEB)

clean:
	rm -rf $(BIN)
