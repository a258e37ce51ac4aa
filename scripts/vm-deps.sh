#!/bin/bash
# vm-deps.sh: install the Debian packages internal/vmtest needs on top of
# the lab's (see the Makefile's DEBS), when they are missing, and make sure
# apt can resolve the kernel the VM boots. Run as root. The kernel itself is
# only downloaded by the test (apt-get download), never installed.
#
#   qemu-system-x86  the VM (TCG, or KVM when /dev/kvm is usable)
#   busybox-static   /init and the small tools in the guest
#   kmod             depmod/modprobe for the kernel's modules (host and guest)
#   cpio             not run by the harness (it writes its archives itself);
#                    handy for looking into them: cpio -t < initrd.cpio
#   iperf3           the ECMP throughput benchmark in the guest (phase 3c)
set -euo pipefail

pkgs=(qemu-system-x86 busybox-static kmod cpio iperf3)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "$(id -u)" -ne 0 ]; then
	if [ ${#missing[@]} -gt 0 ]; then
		echo "vm-deps: missing ${missing[*]}; run this script as root to install them" >&2
		exit 1
	fi
fi

updated=no
if [ ${#missing[@]} -gt 0 ]; then
	echo "vm-deps: installing ${missing[*]}"
	apt-get update -qq
	updated=yes
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The test resolves the kernel through this metapackage; without package
# lists (a fresh container) apt-cache cannot.
if ! apt-cache depends linux-image-cloud-amd64 2>/dev/null | grep -q 'Depends: linux-image-'; then
	if [ "$updated" = no ] && [ "$(id -u)" -eq 0 ]; then
		apt-get update -qq
	fi
	apt-cache depends linux-image-cloud-amd64 | grep 'Depends: linux-image-' ||
		{ echo "vm-deps: apt cannot resolve linux-image-cloud-amd64 (is this Debian with main enabled?)" >&2; exit 1; }
fi
echo "vm-deps: ok ($(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ { print $2 }'))"
