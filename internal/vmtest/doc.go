// Package vmtest runs cgw's kernel data plane end to end inside a qemu VM
// on a stock Debian cloud kernel: XFRM interfaces, ESP-in-UDP on port 4500
// through the lab's NAT, if_id on every CHILD_SA, failover by route
// preference, BGP over both tunnels against FRR's bgpd (the AWS side's
// route back following its best path through zebra), and a clean
// shutdown; then the systemd unit under a real systemd.
//
// The machine that builds cgw has no kernel ESP, so the kernel mode cannot
// run there directly. The harness fetches the kernel named by Debian's
// linux-image-cloud-amd64 metapackage (apt-get download, dpkg-deb -x,
// depmod; never installed on the host), builds an initramfs from the
// host's own strongSwan, FRR bgpd, zebra and vtysh, iproute2, nftables, ping,
// bash, kmod, busybox-static and systemd plus the kernel modules the lab needs, appends a second
// archive holding freshly built cgw and cgwlab binaries and the guest
// scripts, and boots it with qemu: KVM when a short KVM boot of the kernel
// reaches its console, otherwise TCG; CGW_VMTEST_ACCEL=kvm|tcg forces one.
// Inside, guest/lab.sh brings the lab up in kernel mode, checks the lab
// with the plain initiator, then runs cgw and checks it, then does it again
// with the lab's BGP (`cgwlab up --bgp`), then with two connections on the
// lab's transit gateway (`--connections 2 --tgw --bgp`: four tunnels, ECMP
// both ways, a silenced tunnel moving only its own flows), first with the
// plain initiator and then with cgw (Options.Bench adds an iperf3
// throughput ratio, four tunnels against one). When those pass, /init execs the
// host's systemd as PID 1, and guest/systemd.sh drives configs/cgw.service
// through systemctl (READY=1, the watchdog, reload, ExecStopPost cleanup
// after a crash and a stop, the sandbox holding) and powers off. The guest
// reports on the first serial port ("@@ <seconds> …" progress, "TIMING
// k=v" and one "RESULT PASS" or "RESULT FAIL <why>" line) and dumps
// charon logs and XFRM state to the second.
//
// Nothing here is safe for concurrent use; one Run at a time per cache
// directory. See README.md for what runs and how long it takes.
package vmtest
