#!/bin/bash
# lab.sh: cgw's kernel data plane checked end to end, inside the vmtest VM.
#
# Phase 1 (plain): the lab in kernel mode with its plain initiator standing
# in for cgw: both CHILD_SAs INSTALLED, ESP-in-UDP 4500 through the NAT,
# if_id on every state, ping onprem -> vpc, then the AWS side's own
# failover (silence tunnel 1; the plain stand-in moves its route at once, so
# the time until pings resume is the AWS side's DPD).
# Phase 2 (cgw): the same with `cgw run` in the cgw namespace, failover by
# cgw's route preference, a cgw-side charon restart, and a clean SIGTERM
# shutdown; all along, an nftables counter on the cgw namespace's wan0
# counts packets to or from the VPC in clear (the leak check): it must stay
# at 0 from cgw's first routes until it has removed them.
# Phase 2b (rekey): the lab with short lifetimes (cgwlab up --ike-lifetime
# 40s --child-lifetime 30s --rekey-margin 5s --rekey-fuzz 50) and cgw for
# a minute under a 10/s ping: no ping lost, rekeys seen, one SA pair per
# tunnel on both sides at the end.
# Phase 3 (BGP): the lab again with --bgp (FRR bgpd as the AWS side) and
# cgw learning the VPC's prefixes over both tunnels' sessions: routes in
# table 198 via the active XFRM interface, the standby path prepended at
# AWS and the AWS side's route back via the active tunnel (zebra installs
# bgpd's best path), announce/withdraw, both routes moving and pings
# resuming when the active tunnel goes silent, and a clean SIGTERM
# shutdown.
#
# Phase 3b (tgw): the lab with --connections 2 --tgw --bgp, the plain
# initiator and its BGP speaker: four tunnels, four sessions, the AWS
# side's route back one ECMP route over xfrm1-4, and a silenced endpoint
# out of it after its hold timer while the other three stay.
# Phase 3c (tgw-cgw): the same lab with `cgw run` (connections: list,
# bgp.ecmp: true): four tunnels and sessions in cgw's status, cgw's route
# to the VPC one route over a resilient nexthop group of its four XFRM
# interfaces, 64 UDP flows over all four in both directions, and when
# tunnel 3 is silenced only its flows move (each flow's tunnel recorded
# before and after); with /lab/bench also iperf3 over four tunnels
# against one.
#
# Phase 4 (systemd) is /lab/systemd.sh, under systemd as PID 1, which /init
# execs when this script exits 0.
#
# Output: ttyS0 gets "@@ <seconds since start> ..." progress, "TIMING k=v"
# lines, "PLAIN PASS" and "LAB PASS" when those phases passed, and on
# failure "RESULT FAIL <why>" (exit 1); the one "RESULT PASS" comes from
# the systemd phase. ttyS1 gets the dumps (charon logs, cgw log, ip xfrm
# state/policy, routes, nft).
set -u
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/busybox
export HOME=/root LC_ALL=C

LAB=cgwlab
DIR=/run/cgwlab/$LAB
NS_CGW=$LAB-cgw
NS_AWS=$LAB-aws
NS_ONPREM=$LAB-onprem
VPC=10.10.100.110
VPCNET=10.10.100.0/24
DETAIL=/dev/ttyS1
SOCK=$DIR/cgw.sock
START=$EPOCHREALTIME
CGW_PID=
PING_PID=
LEAK_PING_PID=
FLOW_PID=
IPERF_PID=
# BENCH: the throughput benchmark in phase 3c (/lab/bench, from the
# harness's Options.Bench).
BENCH=
[ -e /lab/bench ] && BENCH=1
declare -A dev_of # if_id -> cgw's XFRM interface (xfrm_devs)
# Limits, in seconds.
CGW_UP_MAX=40      # cgw run -> both tunnels up
ROUTE_MOVE_MAX=10  # silence -> cgw's route on the other XFRM interface
RESUME_MAX=45      # silence -> pings answered again (the AWS side's DPD)
BGP_UP_MAX=40      # cgw run -> both BGP sessions established (with --bgp)
BGP_ROUTE_MAX=15   # announce/withdraw at the AWS side -> route in/out of table 198

# elapsed T0: seconds since T0 (an $EPOCHREALTIME value), two decimals.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
mark() { echo "@@ $(elapsed "$START") $*"; }
timing() { echo "TIMING $1=$2"; }

dump() {
	{
		echo "===== dump at $(elapsed "$START") s: $1"
		for ns in $NS_CGW $NS_AWS; do
			for c in "xfrm state" "xfrm policy" "-d link show type xfrm" "route show table all" "-d rule show"; do
				echo "--- ip -n $ns $c"
				ip -n "$ns" $c 2>&1 | grep -v ' local \|^local \|^broadcast '
			done
			echo "--- nft list ruleset ($ns)"
			ip netns exec "$ns" nft list ruleset 2>&1
		done
		echo "--- cgw status"
		cgw status --socket "$SOCK" --json 2>&1
		echo "--- cgwlab status"
		cgwlab status 2>&1
		echo "--- cgw log"
		cat /tmp/cgw.log 2>&1
		if [ -e "$DIR/aws/bgp.json" ]; then
			echo "--- cgwlab bgp status"
			cgwlab bgp status 2>&1
			echo "--- AWS side bgpd log"
			cat "$DIR/aws/frr/bgpd.log" "$DIR/aws/frr/bgpd.out" 2>&1
			echo "--- AWS side zebra log"
			cat "$DIR/aws/frr/zebra.log" "$DIR/aws/frr/zebra.out" 2>&1
		fi
		echo "--- cgwlab log"
		cat /tmp/cgwlab.log 2>&1
		for f in /tmp/ping-*.log; do
			[ -e "$f" ] && { echo "--- $f (tail)"; tail -60 "$f"; }
		done
		for h in aws cgw; do
			echo "--- $h charon log"
			cat "$DIR/$h/charon.log" 2>&1
			cat "$DIR/$h/charon.out" 2>&1
		done
		echo "--- dmesg (tail)"
		dmesg 2>&1 | tail -40
		echo "===== end of dump: $1"
	} >"$DETAIL" 2>&1
}

finish() {
	[ -n "$PING_PID" ] && kill "$PING_PID" 2>/dev/null
	[ -n "$LEAK_PING_PID" ] && kill "$LEAK_PING_PID" 2>/dev/null
	[ -n "$FLOW_PID" ] && kill "$FLOW_PID" 2>/dev/null
	[ -n "$IPERF_PID" ] && kill "$IPERF_PID" 2>/dev/null
	[ -n "$CGW_PID" ] && kill -TERM "$CGW_PID" 2>/dev/null && sleep 2
	cgwlab down >>/tmp/cgwlab.log 2>&1
}

fail() {
	mark "FAIL: $*"
	dump "failure: $*"
	echo "RESULT FAIL $*"
	finish
	exit 1
}

# run LABEL CMD...: run CMD, fail with its output when it fails.
run() {
	local label=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	printf '%s\n' "+ $* (status $rc)" "$out" >>/tmp/cgwlab.log
	[ "$rc" -eq 0 ] || fail "$label: $(echo "$out" | tail -3 | tr '\n' ' ')"
}

# ifid_of NS DEV: the if_id (decimal) of XFRM interface DEV in NS.
ifid_of() {
	local x
	x=$(ip -n "$1" -d link show dev "$2" 2>/dev/null | grep -o 'if_id 0x[0-9a-f]*' | head -1)
	[ -n "$x" ] && echo $((${x#if_id }))
}

# route_dev NS [TABLE]: the device of the first route to the VPC.
route_dev() {
	local t=()
	[ -n "${2:-}" ] && t=(table "$2")
	ip -n "$1" route show "${t[@]}" "$VPCNET" 2>/dev/null | head -1 | grep -o 'dev [^ ]*' | cut -d' ' -f2
}

# check_states LABEL: both tunnels' CHILD_SAs as XFRM states in the cgw
# namespace: ESP in UDP 4500 from the NAT'd outside address, if_id 1 and 2
# on every state; on the AWS side the same SAs come from the Elastic IP.
check_states() {
	local label=$1 st aws n enc ifid
	st=$(ip -n "$NS_CGW" xfrm state)
	aws=$(ip -n "$NS_AWS" xfrm state)
	n=$(grep -c '^src ' <<<"$st")
	enc=$(grep -c 'encap type espinudp sport 4500 dport 4500' <<<"$st")
	ifid=$(grep -c 'if_id 0x[12]$' <<<"$st")
	mark "$label: $n XFRM states in $NS_CGW, $enc ESP-in-UDP 4500, $ifid with if_id 1 or 2"
	[ "$n" -ge 4 ] || fail "$label: want >= 4 XFRM states (2 CHILD_SAs x in/out) in $NS_CGW, got $n"
	[ "$enc" -eq "$n" ] || fail "$label: $enc of $n XFRM states in $NS_CGW are ESP-in-UDP 4500 (want all)"
	[ "$ifid" -eq "$n" ] || fail "$label: $ifid of $n XFRM states in $NS_CGW carry if_id 1 or 2 (want all)"
	grep -q 'if_id 0x1$' <<<"$st" || fail "$label: no XFRM state with if_id 1 in $NS_CGW"
	grep -q 'if_id 0x2$' <<<"$st" || fail "$label: no XFRM state with if_id 2 in $NS_CGW"
	grep -q '^src 192.168.0.10 dst 203.0.113.10' <<<"$st" || fail "$label: no tunnel-1 state from 192.168.0.10 (behind the NAT)"
	grep -q '^src 192.168.0.10 dst 203.0.113.20' <<<"$st" || fail "$label: no tunnel-2 state from 192.168.0.10 (behind the NAT)"
	grep -q '^src 198.51.100.50 dst 203.0.113.10' <<<"$aws" || fail "$label: the AWS side has no tunnel-1 state from the Elastic IP"
	grep -q '^src 198.51.100.50 dst 203.0.113.20' <<<"$aws" || fail "$label: the AWS side has no tunnel-2 state from the Elastic IP"
}

# ping_ok LABEL: onprem -> vpc through the tunnel.
ping_ok() {
	local out
	out=$(ip netns exec "$NS_ONPREM" ping -n -q -c 3 -i 0.2 -W 2 "$VPC" 2>&1) ||
		fail "$1: ping $VPC from onprem: $(echo "$out" | grep 'packets transmitted')"
	mark "$1: ping onprem -> vpc: $(echo "$out" | grep 'packets transmitted')"
}

# resumed T0: seconds from T0 to the first reply after the outage that
# silencing caused, from `ping -D -O` output in /tmp/ping.log: the first
# "no answer yet for icmp_seq=L" stamped after T0, then the first reply with
# a higher seq. Prints "0" when nothing was lost in the 3 s after T0, and
# nothing while the outage lasts.
resumed() {
	awk -v t0="$1" -v now="$EPOCHREALTIME" '
		{ ts = $1; gsub(/[][]/, "", ts); ts += 0 }
		/no answer yet/ && lost == "" && ts > t0 { match($0, /icmp_seq=[0-9]+/); lost = substr($0, RSTART + 9, RLENGTH - 9) + 0; next }
		/bytes from/ {
			match($0, /icmp_seq=[0-9]+/); seq = substr($0, RSTART + 9, RLENGTH - 9) + 0
			if (lost != "" && seq > lost) { printf "%.2f", ts - t0; exit }
			if (ts > t0) last = ts
		}
		END { if (lost == "" && now - t0 > 3 && last > t0 + 2.5) printf "0" }
	' /tmp/ping.log
}

# failover LABEL N ROUTE_NS ROUTE_TABLE MOVE_CMD [aws]: silence tunnel N,
# run MOVE_CMD (may be empty), then wait for the route in ROUTE_NS to leave
# tunnel N's interface and for pings to be answered again; with "aws" also
# for the AWS side's route back to go (proto bgp) via the other tunnel's
# xfrm interface, and (BGP) for cgw's more-specifics at the AWS side
# (steered). Times count from the moment the fault is in place. Sets
# ROUTE_S, RESUME_S, AWS_S and STEER_S.
failover() {
	local label=$1 n=$2 rns=$3 rtable=$4 move=$5 watch_aws=${6:-} t0 dev id
	ROUTE_S= RESUME_S= AWS_S= STEER_S=
	: >/tmp/ping.log
	ip netns exec "$NS_ONPREM" ping -n -D -O -i 0.2 "$VPC" >/tmp/ping.log 2>&1 &
	PING_PID=$!
	sleep 1
	run "$label: fault silence-tunnel$n" cgwlab fault "silence-tunnel$n" on
	t0=$EPOCHREALTIME
	[ -n "$move" ] && run "$label: moving the route" $move
	mark "$label: tunnel $n silenced"
	while :; do
		if [ -z "$ROUTE_S" ]; then
			dev=$(route_dev "$rns" "$rtable")
			id=$(ifid_of "$rns" "$dev")
			if [ -n "$dev" ] && [ -n "$id" ] && [ "$id" != "$n" ]; then
				ROUTE_S=$(elapsed "$t0")
				mark "$label: route to $VPCNET now via $dev (if_id $id) after $ROUTE_S s"
			fi
		fi
		if [ -z "$RESUME_S" ]; then
			RESUME_S=$(resumed "$t0")
			[ -n "$RESUME_S" ] &&
				mark "$label: pings answered again $RESUME_S s after the silence (AWS route: $(ip -n "$NS_AWS" route show 172.31.16.0/20))"
		fi
		# With BGP, cgw's more-specifics reach the AWS side over the other
		# tunnel soon after its route moved, long before the hold timer.
		if [ -n "$watch_aws" ] && [ -n "$ROUTE_S" ] && [ -z "$STEER_S" ] && steered $((3 - n)); then
			STEER_S=$(elapsed "$t0")
			mark "$label: more-specifics at the AWS side from tunnel $((3 - n)) only after $STEER_S s: $(aws_paths 172.31.16.0/21 | tr '\n' ' ')"
		fi
		if [ -n "$watch_aws" ] && [ -z "$AWS_S" ] && aws_return_via $((3 - n)); then
			AWS_S=$(elapsed "$t0")
			mark "$label: AWS side's route back now via xfrm$((3 - n)) after $AWS_S s: $(aws_return)"
		fi
		[ -n "$ROUTE_S" ] && [ -n "$RESUME_S" ] && { [ -z "$watch_aws" ] || [ -n "$AWS_S" ]; } && break
		if [ -z "$ROUTE_S" ] && [ "$(elapsed "$t0" | cut -d. -f1)" -ge "$ROUTE_MAX" ]; then
			fail "$label: after silencing tunnel $n the route to $VPCNET stayed on $(route_dev "$rns" "$rtable") for ${ROUTE_MAX} s"
		fi
		if [ -n "$watch_aws" ] && [ -z "$AWS_S" ] && [ "$(elapsed "$t0" | cut -d. -f1)" -ge "$RESUME_MAX" ]; then
			fail "$label: after silencing tunnel $n the AWS side's route back is not via xfrm$((3 - n)) (proto bgp) after ${RESUME_MAX} s: $(aws_return)"
		fi
		if [ "$(elapsed "$t0" | cut -d. -f1)" -ge "$RESUME_MAX" ]; then
			fail "$label: after silencing tunnel $n no ping was answered for ${RESUME_MAX} s (route moved after ${ROUTE_S:-never} s; AWS route: $(ip -n "$NS_AWS" route show 172.31.16.0/20))"
		fi
		sleep 0.1
	done
	kill "$PING_PID" 2>/dev/null
	wait "$PING_PID" 2>/dev/null
	PING_PID=
	cp /tmp/ping.log "/tmp/ping-$label.log"
	run "$label: fault silence-tunnel$n off" cgwlab fault "silence-tunnel$n" off
}

# stop_cgw LABEL: SIGTERM to cgw; it must exit 0 within 15 s and leave no
# XFRM interface, no proto-198 route or rule and no nft table inet cgw.
stop_cgw() {
	local label=$1 t rc left n
	t=$EPOCHREALTIME
	kill -TERM "$CGW_PID"
	for _ in $(seq 1 150); do
		kill -0 "$CGW_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$CGW_PID" 2>/dev/null && fail "$label: cgw still running 15 s after SIGTERM"
	wait "$CGW_PID"
	rc=$?
	CGW_PID=
	timing "${label}_stop_s" "$(elapsed "$t")"
	[ "$rc" -eq 0 ] || fail "$label: cgw exited with status $rc after SIGTERM: $(tail -3 /tmp/cgw.log | tr '\n' ' ')"
	left=$(ip -n "$NS_CGW" -o link show type xfrm | awk -F': ' '{ printf "%s ", $2 }')
	[ -z "$left" ] || fail "$label: XFRM interfaces left after SIGTERM: $left"
	left=$(ip -n "$NS_CGW" route show table all proto 198 | tr '\n' ';')
	[ -z "$left" ] || fail "$label: routes with proto 198 left after SIGTERM: $left"
	left=$(ip -n "$NS_CGW" -d rule show | grep -w 'proto 198' | tr '\n' ';')
	[ -z "$left" ] || fail "$label: rules with proto 198 left after SIGTERM: $left"
	ip netns exec "$NS_CGW" nft list table inet cgw >/dev/null 2>&1 && fail "$label: nft table inet cgw left after SIGTERM"
	n=$(ip -n "$NS_CGW" xfrm state | grep -c '^src ')
	mark "$label: clean after SIGTERM (no XFRM interface, proto-198 route or rule, nft table; $n XFRM states left)"
}

# start_cgw: cgw run in the cgw namespace with the lab's cgw.yaml, its log
# in /tmp/cgw.log (the previous one kept as /tmp/cgw-prev.log).
start_cgw() {
	[ -e /tmp/cgw.log ] && mv /tmp/cgw.log /tmp/cgw-prev.log
	ip netns exec "$NS_CGW" cgw run --config "$DIR/cgw.yaml" >/tmp/cgw.log 2>&1 &
	CGW_PID=$!
}

# xfrm_devs: fills dev_of[if_id] with cgw's XFRM interfaces in the cgw
# namespace; fails unless if_id 1 and 2 are there.
xfrm_devs() {
	local l
	dev_of=()
	for l in $(ip -n "$NS_CGW" -o link show type xfrm | awk -F': ' '{ print $2 }' | cut -d@ -f1); do
		dev_of[$(ifid_of "$NS_CGW" "$l")]=$l
	done
	[ -n "${dev_of[1]:-}" ] && [ -n "${dev_of[2]:-}" ] ||
		fail "$1: want XFRM interfaces with if_id 1 and 2 in $NS_CGW, have: $(ip -n "$NS_CGW" -o link show type xfrm | awk -F': ' '{ printf "%s ", $2 }')"
}

# leak_watch_on: table netdev leakwatch in the cgw namespace counts, at
# wan0's egress and ingress hooks (what the wire sees, as tcpdump would),
# the packets with a VPC address in their IP header. The tunnel's packets
# there are ESP in UDP 4500 between the outside addresses, so anything
# counted went in clear. (Not inet postrouting: with XFRM the clear packet
# passes it with the outer route's device, wan0, before it is encrypted.)
leak_watch_on() {
	ip netns exec "$NS_CGW" nft -f - <<-EOF || fail "leak check: cannot add the nft counters"
	table netdev leakwatch {
		chain out { type filter hook egress device "wan0" priority 0; policy accept; ip daddr $VPCNET counter; }
		chain in { type filter hook ingress device "wan0" priority 0; policy accept; ip saddr $VPCNET counter; }
	}
	EOF
}

# leaks: packets counted by table netdev leakwatch so far (both directions).
leaks() {
	ip netns exec "$NS_CGW" nft list table netdev leakwatch 2>/dev/null |
		awk '{ for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1) } END { print n + 0 }'
}

# leak_check LABEL BASE: fail if packets in clear were counted since BASE.
leak_check() {
	local n
	n=$(($(leaks) - $2))
	[ "$n" -eq 0 ] || fail "$1: $n packets to or from $VPCNET crossed wan0 in clear"
	mark "$1: 0 packets in clear on wan0"
}

# guard_in_place: cgw's unreachable guard for the VPC is in table 198.
guard_in_place() { ip -n "$NS_CGW" route show table 198 "$VPCNET" | grep -q '^unreachable .* metric 4000'; }

# cgw_status: cgw status --json, whitespace removed (one line to grep).
cgw_status() { cgw status --socket "$SOCK" --json 2>/dev/null | tr -d ' \n\t' | sed 's/,"connections":.*//'; }

# aws_paths PREFIX: the AWS side's paths to PREFIX from `cgwlab bgp status
# --json`, one "tunnel|best|as path" line each (tunnel 0: local).
aws_paths() {
	cgwlab bgp status --json 2>/dev/null | awk -F'"' -v want="$1" '
		/"neighbor":/ { nb = $4 }
		/"tunnel":/ { v = $3; gsub(/[^0-9]/, "", v); tun[nb] = v }
		/"prefix":/ { p = $4; f = "" }
		/"from":/ { f = $4 }
		/"as_path":/ { a = $4 }
		/"best":/ { if (p == want) printf "%d|%d|%s\n", (f == "" ? 0 : tun[f]), ($0 ~ /true/), a }
	'
}

# wait_for LABEL MAX CMD...: run CMD every 0.2 s until it succeeds; fail
# after MAX s. Sets WAITED_S to the seconds it took.
wait_for() {
	local label=$1 max=$2 t0=$EPOCHREALTIME
	shift 2
	until "$@"; do
		[ "$(elapsed "$t0" | cut -d. -f1)" -ge "$max" ] && fail "$label: not within $max s"
		sleep 0.2
	done
	WAITED_S=$(elapsed "$t0")
}

# aws_return: the AWS side's routes back to the customer network (main
# table; with BGP zebra's, none when there is no path).
aws_return() { ip -n "$NS_AWS" route show 172.31.16.0/20 2>/dev/null | tr -s ' \n' ' '; }

# aws_return_via N: the AWS side's route back is BGP's, one path, via
# tunnel N's xfrm interface.
aws_return_via() {
	local r
	r=$(ip -n "$NS_AWS" route show 172.31.16.0/20 2>/dev/null)
	[ "$(grep -c . <<<"$r")" -eq 1 ] && [ "$(grep -o ' dev ' <<<"$r" | wc -l)" -eq 1 ] &&
		grep -q " dev xfrm$1 proto bgp " <<<"$r "
}

# table198_dev PREFIX: the device of cgw's route to PREFIX in table 198.
table198_dev() {
	ip -n "$NS_CGW" route show table 198 "$1" 2>/dev/null | head -1 | grep -o 'dev [^ ]*' | cut -d' ' -f2
}

mark "guest up: kernel $(uname -r), $(nproc) CPU(s)"
for m in esp4 xfrm_user xfrm_interface veth nf_tables nft_chain_nat nf_nat nf_conntrack aesni_intel gcm authenc seqiv ctr ghash_generic; do
	modprobe "$m" 2>/dev/null || mark "note: modprobe $m failed (built in or absent)"
done
mark "modules loaded"

# ---------------------------------------------------------------- the lab
t=$EPOCHREALTIME
run "cgwlab up --dataplane kernel" cgwlab up --dataplane kernel
timing lab_up_s "$(elapsed "$t")"
grep -q '^dataplane: kernel$' "$DIR/cgw.yaml" || fail "the lab's cgw.yaml does not say dataplane: kernel"
ip -n "$NS_AWS" route show 172.31.16.0/20 | grep -q '^blackhole 172.31.16.0/20' ||
	fail "AWS side's route before any tunnel: $(ip -n "$NS_AWS" route show 172.31.16.0/20), want the blackhole"
mark "lab up in kernel mode"

# ---------------------------------------------------- phase 1: plain swanctl
t=$EPOCHREALTIME
run "plain: cgwlab initiate" cgwlab initiate
timing plain_up_s "$(elapsed "$t")"
n=$(swanctl --list-sas --uri "unix://$DIR/cgw/charon.vici" 2>/dev/null | grep -c 'INSTALLED, TUNNEL-in-UDP')
[ "$n" -eq 2 ] || fail "plain: swanctl shows $n CHILD_SAs INSTALLED, TUNNEL-in-UDP, want 2"
check_states plain
[ "$(ifid_of "$NS_AWS" xfrm1)" = 1 ] && [ "$(ifid_of "$NS_AWS" xfrm2)" = 2 ] || fail "plain: AWS side's XFRM interfaces lack if_id 1/2"
aws_route=$(ip -n "$NS_AWS" route show 172.31.16.0/20)
grep -q '^172.31.16.0/20 dev xfrm1' <<<"$aws_route" ||
	fail "plain: AWS side's route with both tunnels up is '$aws_route', want dev xfrm1 (the lowest-numbered tunnel)"
ping_ok plain
ROUTE_MAX=$ROUTE_MOVE_MAX
failover plain 1 "$NS_CGW" "" "ip -n $NS_CGW route replace $VPCNET dev plain-xfrm2"
timing plain_failover_route_s "$ROUTE_S"
timing plain_failover_resume_s "$RESUME_S"
run "plain: cgwlab initiate --reset" cgwlab initiate --reset
[ -z "$(ip -n "$NS_CGW" -d link show type xfrm)" ] || fail "plain: XFRM interfaces left after reset"
mark "plain: PASS"
echo "PLAIN PASS"

# ----------------------------------------------------------- phase 2: cgw
# The leak counter sees a packet in clear when there is one: with no cgw,
# the gateway's own ping to the VPC host leaves by the default route.
leak_watch_on
base=$(leaks)
ip netns exec "$NS_CGW" ping -n -q -c 1 -W 1 "$VPC" >/dev/null 2>&1
[ "$(leaks)" -gt "$base" ] || fail "leak check: a ping in clear without cgw was not counted on wan0: $(ip netns exec "$NS_CGW" nft list table netdev leakwatch 2>&1 | tr '\n' ' ')"
mark "leak check: the counter sees a ping in clear without cgw ($(($(leaks) - base)) packets)"
t=$EPOCHREALTIME
start_cgw
wait_for "cgw: unreachable guard for $VPCNET in table 198 (before any tunnel)" 10 guard_in_place
# From here until cgw has removed its state, nothing may leave in clear,
# whatever happens to the tunnels: pings every 0.2 s from onprem, and
# cgw's own probes.
LEAK_BASE=$(leaks)
ip netns exec "$NS_ONPREM" ping -n -D -O -i 0.2 "$VPC" >/tmp/ping-leak.log 2>&1 &
LEAK_PING_PID=$!
while :; do
	# Without the connections list, which repeats the tunnels.
	s=$(cgw status --socket "$SOCK" --json 2>/dev/null | sed '/"connections": \[/,$d')
	up=$(grep -c '"up": true' <<<"$s")
	[ "$up" -eq 2 ] && break
	kill -0 "$CGW_PID" 2>/dev/null || { CGW_PID=; fail "cgw: cgw run exited: $(tail -3 /tmp/cgw.log | tr '\n' ' ')"; }
	[ "$(elapsed "$t" | cut -d. -f1)" -ge "$CGW_UP_MAX" ] &&
		fail "cgw: $up of 2 tunnels up after ${CGW_UP_MAX} s: $(grep -o '"last_error": "[^"]*"' <<<"$s" | tr '\n' ' ')"
	sleep 0.25
done
timing cgw_tunnels_up_s "$(elapsed "$t")"
mark "cgw: both tunnels up"
grep -q '"dataplane": "kernel"' <<<"$s" || fail "cgw: status does not say dataplane kernel"
[ "$(grep -c '"child_state": "INSTALLED"' <<<"$s")" -eq 2 ] || fail "cgw: status does not show 2 CHILD_SAs INSTALLED"
[ "$(grep -c '"nat_t": true' <<<"$s")" -eq 2 ] || fail "cgw: status does not show NAT-T (ESP in UDP 4500) on both tunnels"
check_states cgw
xfrm_devs cgw
mark "cgw: XFRM interfaces ${dev_of[1]} (if_id 1) and ${dev_of[2]} (if_id 2)"
dev=$(route_dev "$NS_CGW" 198)
active=$(ifid_of "$NS_CGW" "$dev")
[ -n "$active" ] || fail "cgw: no route to $VPCNET via a cgw XFRM interface in table 198: $(ip -n "$NS_CGW" route show table 198)"
status_active=$(sed -n 's/.*"active_tunnel": \([0-9]*\).*/\1/p' <<<"$s")
mark "cgw: route to $VPCNET via $dev (tunnel $active); status says active tunnel $status_active"
ping_ok cgw
leak_check "cgw: tunnels coming up" "$LEAK_BASE"

# charon restarts under cgw: its SAs and if_id policies go, cgw's XFRM
# interfaces and routes stay and carry nothing until cgw has loaded and
# initiated the tunnels again.
t=$EPOCHREALTIME
run "cgw: cgwlab fault restart-cgw-charon on" cgwlab fault restart-cgw-charon on
both_up_again() {
	kill -0 "$CGW_PID" 2>/dev/null || { CGW_PID=; fail "cgw: cgw run exited: $(tail -3 /tmp/cgw.log | tr '\n' ' ')"; }
	[ "$(cgw status --socket "$SOCK" --json 2>/dev/null | sed '/"connections": \[/,$d' | grep -c '"up": true')" -eq 2 ] &&
		[ -n "$(ifid_of "$NS_CGW" "$(route_dev "$NS_CGW" 198)")" ]
}
wait_for "cgw: both tunnels up and routed after the cgw-side charon restart" "$CGW_UP_MAX" both_up_again
timing cgw_charon_restart_up_s "$WAITED_S"
ping_ok "cgw after charon restart"
leak_check "cgw: cgw-side charon restart" "$LEAK_BASE"
dev=$(route_dev "$NS_CGW" 198)
active=$(ifid_of "$NS_CGW" "$dev")

ROUTE_MAX=$ROUTE_MOVE_MAX
failover cgw "$active" "$NS_CGW" 198 ""
timing cgw_failover_route_s "$ROUTE_S"
timing cgw_failover_resume_s "$RESUME_S"
leak_check "cgw: failover" "$LEAK_BASE"

# After SIGTERM cgw protects nothing, by design: the onprem pings stop
# first, cgw's own probes run on until it stops them.
kill "$LEAK_PING_PID" 2>/dev/null
wait "$LEAK_PING_PID" 2>/dev/null
LEAK_PING_PID=
stop_cgw cgw
leak_check "cgw: SIGTERM" "$LEAK_BASE"
ip netns exec "$NS_CGW" nft delete table netdev leakwatch

# ---------------------------------------------- phase 2b: rekeys (kernel)
# Short lifetimes on the AWS side and in the download it writes (lab only;
# cgw.yaml says lab_short_lifetimes and names describe-vpn-connections.json,
# the format that carries them): phase 1 40 s, phase 2 30 s, margin 5 s,
# fuzz 50 %. AWS would rekey the CHILD_SAs 22.5-25 s and the IKE_SAs
# 32.5-35 s into their lives; cgw, ahead of that window, at 14-18 s and
# 24-28 s. For a minute, pings every 0.1 s: none may be lost, cgw's status
# must show both tunnels up at every look, the AWS side must have made new
# IKE and CHILD SAs (rekeys), and at the end each tunnel has one IKE_SA
# with one CHILD_SA on both sides.
run "rekey: cgwlab down" cgwlab down
run "cgwlab up --dataplane kernel, short lifetimes" cgwlab up --dataplane kernel --ike-lifetime 40s --child-lifetime 30s --rekey-margin 5s --rekey-fuzz 50
grep -q '^lab_short_lifetimes: true$' "$DIR/cgw.yaml" || fail "rekey: the lab's cgw.yaml lacks lab_short_lifetimes: true"
grep -q "^aws_config: $DIR/describe-vpn-connections.json\$" "$DIR/cgw.yaml" || fail "rekey: the lab's cgw.yaml does not name describe-vpn-connections.json"
# max_ids HOST: the highest IKE_SA and CHILD_SA unique ids of HOST's charon.
max_ids() {
	local out
	out=$(swanctl --list-sas --uri "unix://$DIR/$1/charon.vici" 2>/dev/null)
	echo "$(sed -n 's/^[a-z0-9-]*tunnel[12]: #\([0-9]*\),.*/\1/p' <<<"$out" | sort -n | tail -1) $(sed -n 's/^  [a-z0-9-]*tunnel[12]: #\([0-9]*\), reqid.*/\1/p' <<<"$out" | sort -n | tail -1)"
}
# one_pair HOST: each tunnel one IKE_SA ESTABLISHED with one CHILD_SA
# INSTALLED in HOST's charon, and no exchange under way.
one_pair() {
	local out
	out=$(swanctl --list-sas --uri "unix://$DIR/$1/charon.vici" 2>/dev/null)
	[ "$(grep -c ', ESTABLISHED, ' <<<"$out")" -eq 2 ] && [ "$(grep -c ', INSTALLED, ' <<<"$out")" -eq 2 ] &&
		! grep -qE ', (REKEYING|REKEYED|DELETING|CONNECTING|CREATED|ROUTED), ' <<<"$out"
}
start_cgw
rekey_up() {
	kill -0 "$CGW_PID" 2>/dev/null || { CGW_PID=; fail "rekey: cgw run exited: $(tail -3 /tmp/cgw.log | tr '\n' ' ')"; }
	[ "$(cgw status --socket "$SOCK" --json 2>/dev/null | sed '/"connections": \[/,$d' | grep -c '"up": true')" -eq 2 ] && one_pair aws && one_pair cgw
}
wait_for "rekey: both tunnels up, one SA pair each" "$CGW_UP_MAX" rekey_up
ping_ok rekey
read -r ike0 child0 <<<"$(max_ids aws)"
ip netns exec "$NS_ONPREM" ping -n -q -c 600 -i 0.1 -W 2 "$VPC" >/tmp/ping-rekey.log 2>&1 &
rekey_ping=$!
looks=0 down=0
while kill -0 "$rekey_ping" 2>/dev/null; do
	looks=$((looks + 1))
	[ "$(cgw status --socket "$SOCK" --json 2>/dev/null | sed '/"connections": \[/,$d' | grep -c '"up": true')" -eq 2 ] || down=$((down + 1))
	sleep 0.5
done
wait "$rekey_ping"
read -r ike1 child1 <<<"$(max_ids aws)"
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' /tmp/ping-rekey.log)
got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' /tmp/ping-rekey.log)
timing rekey_pings_sent "${sent:-0}"
timing rekey_pings_lost "$((${sent:-0} - ${got:-0}))"
timing rekey_ike_sas_new "$((ike1 - ike0))"
timing rekey_child_sas_new "$((child1 - child0))"
timing rekey_status_not_up_looks "$down/$looks"
[ "${sent:-0}" -eq 600 ] && [ "${got:-0}" -eq 600 ] || fail "rekey: ${got:-0} of ${sent:-0} pings answered across rekeys: $(tail -2 /tmp/ping-rekey.log | tr '\n' ' ')"
[ "$((ike1 - ike0))" -ge 2 ] && [ "$((child1 - child0))" -ge 4 ] ||
	fail "rekey: the AWS side made $((ike1 - ike0)) IKE_SAs and $((child1 - child0)) CHILD_SAs in a minute, want at least 2 and 4 (rekeys)"
[ "$down" -eq 0 ] || fail "rekey: cgw's status had a tunnel not up at $down of $looks looks"
both_pairs() { one_pair aws && one_pair cgw; }
wait_for "rekey: one IKE_SA and one CHILD_SA per tunnel on both sides at the end" 30 both_pairs
stop_cgw rekey
mark "rekey: PASS ($((ike1 - ike0)) IKE and $((child1 - child0)) CHILD rekeys in a minute, 0 of 600 pings lost)"

# ------------------------------------------------- phase 3: cgw with BGP
run "bgp: cgwlab down" cgwlab down
t=$EPOCHREALTIME
run "cgwlab up --dataplane kernel --bgp" cgwlab up --dataplane kernel --bgp
timing bgp_lab_up_s "$(elapsed "$t")"
grep -q '^dataplane: kernel$' "$DIR/cgw.yaml" || fail "bgp: the lab's cgw.yaml does not say dataplane: kernel"
grep -q '^remote_networks:' "$DIR/cgw.yaml" && fail "bgp: the lab's cgw.yaml lists remote_networks (BGP should learn them)"
grep -q 'Border Gateway Protocol' "$DIR/generic.txt" || fail "bgp: generic.txt is not in its BGP form"
n=$(aws_paths 10.10.100.0/24 | grep -c '^0|1|')
[ "$n" -eq 1 ] || fail "bgp: the AWS side's bgpd does not originate $VPCNET: $(cgwlab bgp status 2>&1 | tr '\n' ' ')"
[ -z "$(aws_return)" ] && ip -n "$NS_AWS" route show table 253 172.31.16.0/20 | grep -q '^blackhole' ||
	fail "bgp: before any session the AWS side's route back should be the blackhole in table 253 only: main '$(aws_return)', table 253 '$(ip -n "$NS_AWS" route show table 253 172.31.16.0/20)'"
mark "bgp: lab up in kernel mode with FRR bgpd and zebra as the AWS side"

t=$EPOCHREALTIME
start_cgw
established() {
	s=$(cgw_status)
	kill -0 "$CGW_PID" 2>/dev/null || { CGW_PID=; fail "bgp: cgw run exited: $(tail -3 /tmp/cgw.log | tr '\n' ' ')"; }
	[ "$(grep -o '"bgp":{"state":"established"' <<<"$s" | wc -l)" -eq 2 ]
}
wait_for "bgp: both sessions established in cgw status (after cgw run)" "$BGP_UP_MAX" established
timing bgp_established_s "$(elapsed "$t")"
mark "bgp: both sessions established"
vpc_route() { [ -n "$(table198_dev "$VPCNET")" ]; }
wait_for "bgp: $VPCNET in table 198 (learned over BGP)" "$BGP_ROUTE_MAX" vpc_route
timing bgp_route_s "$(elapsed "$t")"
# cgw's status may report the route a moment after table 198 has it.
status_installed() {
	s=$(cgw_status)
	grep -q '"prefix":"10.10.100.0/24","tunnels":\[[0-9,]*\],"best":[0-9]*,"installed":true' <<<"$s"
}
wait_for "bgp: cgw status shows $VPCNET learned and installed: $(grep -o '"bgp_routes":[^}]*' <<<"$(cgw_status)")" 5 status_installed
check_states bgp
xfrm_devs bgp
dev=$(table198_dev "$VPCNET")
active=$(ifid_of "$NS_CGW" "$dev")
[ -n "$active" ] || fail "bgp: route to $VPCNET in table 198 is not via a cgw XFRM interface: $(ip -n "$NS_CGW" route show table 198)"
standby=$((3 - active))
status_active=$(grep -o '"active_tunnel":[0-9]*' <<<"$s" | cut -d: -f2)
[ "$status_active" = "$active" ] || fail "bgp: route via tunnel $active, cgw status says active tunnel $status_active"
for n in 1 2; do
	ip -n "$NS_CGW" -4 addr show dev "${dev_of[$n]}" | grep -q 'inet 169\.254\.[0-9.]*/30' ||
		fail "bgp: no customer inside /30 on ${dev_of[$n]}: $(ip -n "$NS_CGW" -4 -o addr show dev "${dev_of[$n]}")"
done
mark "bgp: $VPCNET via $dev (tunnel $active), inside /30s on ${dev_of[1]} and ${dev_of[2]}"
ping_ok bgp

# The AWS side learns the on-prem prefix on both sessions, the standby
# tunnel's AS path prepended, and picks the active tunnel's path.
prepended() {
	local p
	p=$(aws_paths 172.31.16.0/20)
	grep -qx "$active|1|65000" <<<"$p" && grep -q "^$standby|0|65000 65000" <<<"$p"
}
wait_for "bgp: AWS side has 172.31.16.0/20 from tunnel $active (best, AS path 65000) and tunnel $standby (prepended): $(aws_paths 172.31.16.0/20 | tr '\n' ' ')" 10 prepended
mark "bgp: AWS side's paths to 172.31.16.0/20 (tunnel|best|AS path): $(aws_paths 172.31.16.0/20 | tr '\n' ' ')"
# zebra puts that best path in the AWS side's kernel: traffic comes back
# over the active tunnel, as on AWS.
return_active() { aws_return_via "$active"; }
wait_for "bgp: AWS side's route back via xfrm$active (proto bgp, one path): $(aws_return)" 10 return_active
mark "bgp: AWS side's route back: $(aws_return)"

# A new VPC prefix is routed within seconds; a withdrawn one goes.
NEWNET=10.10.200.0/24
run "bgp: cgwlab bgp announce $NEWNET" cgwlab bgp announce "$NEWNET"
new_in() { [ "$(table198_dev "$NEWNET")" = "$dev" ]; }
wait_for "bgp: announced $NEWNET in table 198 via $dev" "$BGP_ROUTE_MAX" new_in
timing bgp_announce_route_s "$WAITED_S"
run "bgp: cgwlab bgp withdraw $NEWNET" cgwlab bgp withdraw "$NEWNET"
new_out() { [ -z "$(table198_dev "$NEWNET")" ]; }
wait_for "bgp: withdrawn $NEWNET gone from table 198" "$BGP_ROUTE_MAX" new_out
timing bgp_withdraw_route_s "$WAITED_S"
mark "bgp: $NEWNET announced and withdrawn"

# Silencing the active tunnel moves cgw's route to the other interface at
# once; the AWS side's route back follows BGP: cgw's unprepended
# announcement on the standby ties with the silenced tunnel's, and FRR
# keeps the older path until that session's hold timer expires.
ROUTE_MAX=$ROUTE_MOVE_MAX
survivor=$((3 - active))
# steered N: both halves of the on-premises /20 at the AWS side, from
# tunnel N's session only.
steered() {
	local h
	for h in 172.31.16.0/21 172.31.24.0/21; do
		[ "$(aws_paths "$h" | cut -d'|' -f1 | sort -u | tr '\n' ' ')" = "$1 " ] || return 1
	done
}
failover bgp "$active" "$NS_CGW" 198 "" aws
timing bgp_failover_route_s "$ROUTE_S"
timing bgp_aws_return_moved_s "$AWS_S"
timing bgp_failover_resume_s "$RESUME_S"

# The replies came back at once because cgw announced the halves of
# 172.31.16.0/20 over the surviving tunnel only (return-path steering):
# failover saw them in the AWS side's table from it, and from no other,
# long before the /20's path moved. Once the old tunnel's session has
# ended (its hold timer: the /20 moved then), they are withdrawn and the
# /20 carries the traffic alone.
[ -n "$STEER_S" ] || fail "bgp: cgw's more-specifics never reached the AWS side from tunnel $survivor alone during the failover"
timing bgp_steer_seen_s "$STEER_S"
unsteered() { [ -z "$(aws_paths 172.31.16.0/21)$(aws_paths 172.31.24.0/21)" ] && [ -n "$(aws_paths 172.31.16.0/20)" ]; }
wait_for "bgp: the more-specifics withdrawn once tunnel $active's session ended: $(aws_paths 172.31.16.0/21 | tr '\n' ' ')" 40 unsteered
ping_ok bgp
mark "bgp: more-specifics at the AWS side over tunnel $survivor during the failover, withdrawn after tunnel $active's session ended"

stop_cgw bgp
# No BGP socket of cgw's left listening or established (state 0A or 01 on
# port 179 = 0x00B3; TIME_WAIT belongs to the kernel).
n=$(ip netns exec "$NS_CGW" cat /proc/net/tcp | awk '($2 ~ /:00B3$/ || $3 ~ /:00B3$/) && ($4 == "0A" || $4 == "01")' | wc -l)
[ "$n" -eq 0 ] || fail "bgp: $n TCP 179 sockets listening or established in $NS_CGW after SIGTERM"

# flows_by_tunnel: send 64 UDP flows (a new socket, so a new source port,
# each) from the VPC host to the on-prem host, wait until the AWS side has
# forwarded all 64, and set FLOWS to how many went over each of xfrm1-4
# ("n1 n2 n3 n4 "), counted by nft.
flows_by_tunnel() {
	local n
	{
		echo "table ip flows {}"
		echo "delete table ip flows"
		echo "table ip flows {"
		echo "chain forward {"
		echo "type filter hook forward priority 0; policy accept;"
		for n in 1 2 3 4; do echo "oifname \"xfrm$n\" udp dport 9 counter"; done
		echo "}"
		echo "}"
	} | ip netns exec "$NS_AWS" nft -f - || fail "tgw: nft counters in $NS_AWS"
	ip netns exec "$LAB-vpc" bash -c 'for i in $(seq 64); do exec 3>/dev/udp/172.31.16.103/9 && echo flow >&3; exec 3>&-; done' ||
		fail "tgw: sending 64 UDP flows from the VPC host"
	wait_for "tgw: the AWS side forwarding all 64 flows: $(flow_counts)" 10 flows_counted
	FLOWS=$(flow_counts)
}
flow_counts() {
	local out n
	out=$(ip netns exec "$NS_AWS" nft list table ip flows)
	for n in 1 2 3 4; do
		grep -o "oifname \"xfrm$n\" udp dport 9 counter packets [0-9]*" <<<"$out" | awk '{ printf "%s ", $NF }'
	done
}
flows_counted() { [ "$(flow_counts | tr ' ' '\n' | awk '{ s += $1 } END { print s + 0 }')" -eq 64 ]; }

# ------------------------------- phase 3b: a transit gateway, four tunnels
# The lab again with --connections 2 --tgw --bgp: both connections on one
# transit gateway (the aws host: one charon, xfrm1-xfrm4, one bgpd with
# four neighbours and maximum-paths 4, zebra), the plain initiator with its
# BGP speaker announcing the on-prem /20 equally on every tunnel. All four
# tunnels come up, all four sessions establish, the AWS side's route back
# is one multipath route over the four XFRM interfaces (ECMP) that spreads
# 64 UDP flows over all four, and a silenced endpoint leaves it when its
# session's hold timer expires while the other three stay.
run "tgw: cgwlab down" cgwlab down
t=$EPOCHREALTIME
run "cgwlab up --dataplane kernel --connections 2 --tgw --bgp" cgwlab up --dataplane kernel --connections 2 --tgw --bgp
timing tgw_lab_up_s "$(elapsed "$t")"
[ -e "$DIR/conn2/generic.txt" ] || fail "tgw: no conn2/generic.txt"
grep -q '^connections:' "$DIR/cgw.yaml" && grep -q 'ecmp: true' "$DIR/cgw.yaml" ||
	fail "tgw: cgw.yaml has no connections: list or no bgp.ecmp: $(tr '\n' ' ' <"$DIR/cgw.yaml")"
n=$(ip -n "$NS_AWS" -o link show type xfrm | grep -c ': xfrm[1-4]@')
[ "$n" -eq 4 ] || fail "tgw: $n XFRM interfaces xfrm1-4 in $NS_AWS, want 4: $(ip -n "$NS_AWS" -o link show type xfrm)"
t=$EPOCHREALTIME
run "tgw: cgwlab initiate --bgp-speaker" cgwlab initiate --bgp-speaker
timing tgw_tunnels_up_s "$(elapsed "$t")"
aws=$(ip -n "$NS_AWS" xfrm state)
for o in 10 20 30 40; do
	grep -q "^src 198.51.100.50 dst 203.0.113.$o" <<<"$aws" || fail "tgw: the AWS side has no state from the Elastic IP to 203.0.113.$o"
done
mark "tgw: four tunnels up (states to 203.0.113.10, .20, .30, .40)"
sessions() { [ "$(cgwlab bgp status --json 2>/dev/null | grep -c '"state": "Established"')" -eq 4 ]; }
wait_for "tgw: four BGP sessions established at the AWS side: $(cgwlab bgp status 2>&1 | tr '\n' ' ')" 60 sessions
timing tgw_sessions_s "$(elapsed "$t")"
# ecmp_over N...: the AWS side's route back is BGP's, over exactly the
# XFRM interfaces of tunnels N...
ecmp_over() {
	local r n
	r=" $(aws_return)"
	grep -q " proto bgp " <<<"$r" || return 1
	[ "$(grep -o ' dev xfrm[0-9]' <<<"$r" | wc -l)" -eq $# ] || return 1
	for n in "$@"; do
		grep -q " dev xfrm$n " <<<"$r " || return 1
	done
}
wait_for "tgw: AWS side's route back over xfrm1-4 (ECMP): $(aws_return)" 30 ecmp_over 1 2 3 4
timing tgw_ecmp_s "$(elapsed "$t")"
mark "tgw: AWS side's route back: $(aws_return)"
ping_ok tgw
flows_by_tunnel
f=$FLOWS
mark "tgw: 64 UDP flows from the VPC host by tunnel (xfrm1-4): $f"
read -r f1 f2 f3 f4 <<<"$f"
[ $((f1 + f2 + f3 + f4)) -eq 64 ] && [ "$f1" -gt 0 ] && [ "$f2" -gt 0 ] && [ "$f3" -gt 0 ] && [ "$f4" -gt 0 ] ||
	fail "tgw: 64 UDP flows by tunnel $f: want all 64 spread over all four"
timing tgw_flows_by_tunnel "$(tr ' ' / <<<"${f% }")"
run "tgw: cgwlab fault silence-tunnel3 on" cgwlab fault silence-tunnel3 on
t=$EPOCHREALTIME
# without3 LABEL: the AWS side's route back is over tunnels 1, 2 and 4
# only; it fails LABEL at once when one of those left it.
without3() {
	local n
	for n in 1 2 4; do
		grep -q " dev xfrm$n " <<<" $(aws_return) " || fail "$1: tunnel $n left the AWS side's route back while tunnel 3 was silenced: $(aws_return)"
	done
	ecmp_over 1 2 4
}
wait_for "tgw: tunnel 3 out of the AWS side's route back, 1, 2 and 4 in: $(aws_return)" 75 without3 tgw
timing tgw_silenced_path_gone_s "$WAITED_S"
mark "tgw: tunnel 3 silenced, route back after its hold timer: $(aws_return)"
ping_ok tgw
flows_by_tunnel
f=$FLOWS
mark "tgw: 64 UDP flows with tunnel 3 silenced, by tunnel: $f"
read -r f1 f2 f3 f4 <<<"$f"
[ $((f1 + f2 + f4)) -eq 64 ] && [ "$f3" -eq 0 ] && [ "$f1" -gt 0 ] && [ "$f2" -gt 0 ] && [ "$f4" -gt 0 ] ||
	fail "tgw: 64 UDP flows with tunnel 3 silenced, by tunnel $f: want none over tunnel 3, the rest spread over 1, 2 and 4"
timing tgw_flows_silenced_by_tunnel "$(tr ' ' / <<<"${f% }")"
run "tgw: cgwlab fault silence-tunnel3 off" cgwlab fault silence-tunnel3 off
run "tgw: cgwlab initiate --reset" cgwlab initiate --reset
mark "tgw: PASS"

# --------------------- phase 3c: cgw on the transit gateway, four tunnels
# The same lab (--connections 2 --tgw --bgp) with `cgw run` and the lab's
# cgw.yaml (connections: list, bgp.ecmp: true, dataplane kernel) in place
# of the plain initiator: four tunnels up and four sessions established in
# cgw's status, cgw's route to the VPC in table 198 one route over a
# resilient nexthop group of its four XFRM interfaces, the AWS side's
# route back over xfrm1-4, and 64 UDP flows spread over all four tunnels
# in both directions (counted on cgw's XFRM interfaces going out, on the
# AWS side's coming back). Then tunnel 3 is silenced: its interface leaves
# cgw's group (today when cgw's charon's DPD clears the SA or the
# session's hold timer ends, whichever is first), and the 64 flows, the
# same sockets as before, are sent again: those that went over tunnels 1,
# 2 and 4 must still go over the same tunnel; only tunnel 3's moved.
run "tgw-cgw: cgwlab down" cgwlab down
t=$EPOCHREALTIME
run "cgwlab up --dataplane kernel --connections 2 --tgw --bgp (for cgw)" cgwlab up --dataplane kernel --connections 2 --tgw --bgp
timing tgwc_lab_up_s "$(elapsed "$t")"
grep -q '^connections:' "$DIR/cgw.yaml" && grep -q 'ecmp: true' "$DIR/cgw.yaml" && grep -q '^dataplane: kernel$' "$DIR/cgw.yaml" ||
	fail "tgw-cgw: cgw.yaml lacks connections:, bgp.ecmp: true or dataplane: kernel: $(tr '\n' ' ' <"$DIR/cgw.yaml")"
# The VPC host drops UDP port 9 before any socket: no port unreachable
# comes back to the flows' connected sockets (a pending error would fail
# their next send).
ip netns exec "$LAB-vpc" nft -f - <<-NFT || fail "tgw-cgw: nft sink in $LAB-vpc"
table ip sink {
	chain in { type filter hook input priority 0; policy accept; udp dport 9 drop; }
}
NFT

# conn_status: the "connections" part of cgw status --json (every
# connection's tunnels), whitespace removed.
conn_status() { cgw status --socket "$SOCK" --json 2>/dev/null | tr -d ' \n\t' | sed -n 's/.*"connections":\[/[/p'; }
cgw_alive() { kill -0 "$CGW_PID" 2>/dev/null || { CGW_PID=; fail "tgw-cgw: cgw run exited: $(tail -3 /tmp/cgw.log | tr '\n' ' ')"; }; }
t=$EPOCHREALTIME
start_cgw
four_up() {
	cgw_alive
	[ "$(conn_status | grep -o '"up":true' | wc -l)" -eq 4 ]
}
wait_for "tgw-cgw: four tunnels up in cgw status: $(conn_status | grep -o '"up":[a-z]*' | tr '\n' ' ')" 60 four_up
timing tgwc_tunnels_up_s "$(elapsed "$t")"
s=$(cgw status --socket "$SOCK" --json 2>/dev/null | tr -d ' \n\t')
[ "$(sed 's/,"connections":.*//' <<<"$s" | grep -o '"up":true' | wc -l)" -eq 2 ] ||
	fail "tgw-cgw: cgw status's top-level tunnels (connection 1) do not show 2 up"
[ "$(grep -o '"name":"conn[12]","vpn_connection_id"' <<<"$s" | wc -l)" -eq 2 ] ||
	fail "tgw-cgw: cgw status's connections list does not name conn1 and conn2"
grep -q '"ecmp":true' <<<"$s" || fail "tgw-cgw: cgw status does not say ecmp"
mark "tgw-cgw: four tunnels up (connection 1's two at the top level, both connections in the list)"
four_sessions() {
	cgw_alive
	[ "$(conn_status | grep -o '"bgp":{"state":"established"' | wc -l)" -eq 4 ]
}
wait_for "tgw-cgw: four BGP sessions established in cgw status: $(conn_status | grep -o '"bgp":{"state":"[a-z]*"' | tr '\n' ' ')" 60 four_sessions
timing tgwc_sessions_s "$(elapsed "$t")"

# cgw_ecmp_devs: the devices of cgw's route to the VPC in table 198, when
# it is a route over a resilient nexthop group ("ip nexthop"), sorted, one
# space after each; nothing otherwise.
cgw_ecmp_devs() {
	local nh g m
	nh=$(ip -n "$NS_CGW" route show table 198 "$VPCNET" 2>/dev/null | grep -o 'nhid [0-9]*' | head -1 | cut -d' ' -f2)
	[ -n "$nh" ] || return 0
	g=$(ip -n "$NS_CGW" nexthop show id "$nh" 2>/dev/null)
	grep -q 'type resilient' <<<"$g" || return 0
	for m in $(grep -o 'group [0-9/,]*' <<<"$g" | cut -d' ' -f2 | tr '/' ' '); do
		ip -n "$NS_CGW" nexthop show id "${m%%,*}" 2>/dev/null | grep -o 'dev [^ ]*' | cut -d' ' -f2
	done | sort | tr '\n' ' '
}
cgw_ecmp_over() { [ "$(cgw_ecmp_devs)" = "$*" ]; }
wait_for "tgw-cgw: cgw's route to $VPCNET in table 198 over a resilient group of cgw-xfrm1-4: $(ip -n "$NS_CGW" route show table 198 "$VPCNET" | tr '\n' ' ') $(ip -n "$NS_CGW" nexthop show | tr '\n' ' ')" 30 \
	cgw_ecmp_over "cgw-xfrm1 cgw-xfrm2 cgw-xfrm3 cgw-xfrm4 "
timing tgwc_ecmp_route_s "$(elapsed "$t")"
mark "tgw-cgw: cgw's route: $(ip -n "$NS_CGW" route show table 198 "$VPCNET" | tr -s ' \n\t' ' '); group: $(ip -n "$NS_CGW" nexthop show | grep resilient | tr -s ' \n' ' ')"
wait_for "tgw-cgw: AWS side's route back over xfrm1-4 (ECMP): $(aws_return)" 30 ecmp_over 1 2 3 4
timing tgwc_aws_ecmp_s "$(elapsed "$t")"
mark "tgw-cgw: AWS side's route back: $(aws_return)"
ping_ok tgw-cgw

# The 64 flows from the on-prem host: one bash in the onprem namespace
# holds 64 connected UDP sockets to the VPC host's port 9 (64 source
# ports, fixed for the phase) and sends one datagram on each for every
# "send" read from a FIFO. FLOW_PORTS are those source ports.
FLOWCTL=/tmp/flows.ctl
rm -f "$FLOWCTL"
mkfifo "$FLOWCTL"
rm -f /tmp/flows.ready
ip netns exec "$NS_ONPREM" bash -c '
	exec 4<>'"$FLOWCTL"'
	fds=()
	for i in $(seq 64); do exec {fd}>/dev/udp/'"$VPC"'/9 || exit 1; fds+=("$fd"); done
	: >/tmp/flows.ready
	while read -r c <&4 && [ "$c" = send ]; do
		for fd in "${fds[@]}"; do echo flow >&"$fd"; done
	done' 2>/tmp/flows.err &
FLOW_PID=$!
# flow_ports: the local ports of the onprem namespace's UDP sockets
# connected to the VPC host's port 9 (/proc/net/udp: little-endian hex),
# each once. Read only once the sender has all 64 open (/tmp/flows.ready):
# a read while sockets are being added can list some twice.
flow_ports() {
	local rem
	rem=$(printf '%02X%02X%02X%02X:0009' $(tr . ' ' <<<"$VPC" | awk '{ print $4, $3, $2, $1 }'))
	ip netns exec "$NS_ONPREM" cat /proc/net/udp | while read -r _ l r _; do
		[ "$r" = "$rem" ] && echo $((16#${l#*:}))
	done | sort -nu | tr '\n' ' '
}
ports64() { [ -e /tmp/flows.ready ] && FLOW_PORTS=$(flow_ports) && [ "$(wc -w <<<"$FLOW_PORTS")" -eq 64 ]; }
wait_for "tgw-cgw: 64 UDP sockets to $VPC:9 in $NS_ONPREM: $(cat /tmp/flows.err)" 10 ports64
# flow_round LABEL: counters in the cgw namespace's forward hook, one per
# source port and cgw XFRM interface; one datagram per flow; waits until
# all 64 are counted, then sets TUN_OF[port] to the tunnel (if_id) each
# flow left by and CGW_FLOWS to the flows per tunnel ("n1 n2 n3 n4 ").
declare -A TUN_OF
flow_round() {
	local p n out c
	{
		echo "table ip cgwflows {}"
		echo "delete table ip cgwflows"
		echo "table ip cgwflows {"
		echo "chain forward {"
		echo "type filter hook forward priority 0; policy accept;"
		for p in $FLOW_PORTS; do
			for n in 1 2 3 4; do echo "oifname \"cgw-xfrm$n\" udp sport $p udp dport 9 counter"; done
		done
		echo "}"
		echo "}"
	} | ip netns exec "$NS_CGW" nft -f - || fail "$1: nft counters in $NS_CGW"
	kill -0 "$FLOW_PID" 2>/dev/null || fail "$1: the flow sender in $NS_ONPREM exited: $(cat /tmp/flows.err)"
	echo send >"$FLOWCTL"
	counted() {
		out=$(ip netns exec "$NS_CGW" nft list table ip cgwflows 2>/dev/null)
		[ "$(grep -o 'counter packets [0-9]*' <<<"$out" | awk '{ s += $3 } END { print s + 0 }')" -eq 64 ]
	}
	wait_for "$1: cgw forwarding all 64 flows into its XFRM interfaces" 10 counted
	TUN_OF=()
	while read -r n p c; do
		[ -n "$p" ] && TUN_OF[$p]=$n
	done <<<"$(sed -n 's/.*oifname "cgw-xfrm\([1-4]\)" udp sport \([0-9]*\) udp dport 9 counter packets \([1-9][0-9]*\) .*/\1 \2 \3/p' <<<"$out")"
	CGW_FLOWS=
	for n in 1 2 3 4; do
		c=0
		for p in "${!TUN_OF[@]}"; do [ "${TUN_OF[$p]}" = "$n" ] && c=$((c + 1)); done
		CGW_FLOWS+="$c "
	done
	[ "${#TUN_OF[@]}" -eq 64 ] || fail "$1: ${#TUN_OF[@]} of 64 flows counted on one cgw XFRM interface each: $CGW_FLOWS"
}
flow_round "tgw-cgw: flows"
read -r f1 f2 f3 f4 <<<"$CGW_FLOWS"
mark "tgw-cgw: 64 UDP flows onprem -> vpc by cgw's XFRM interface (cgw-xfrm1-4): $CGW_FLOWS"
[ "$f1" -gt 0 ] && [ "$f2" -gt 0 ] && [ "$f3" -gt 0 ] && [ "$f4" -gt 0 ] ||
	fail "tgw-cgw: 64 UDP flows onprem -> vpc by tunnel $CGW_FLOWS: want all four used"
timing tgwc_flows_by_tunnel "$(tr ' ' / <<<"${CGW_FLOWS% }")"
flows_by_tunnel
read -r f1 f2 f3 f4 <<<"$FLOWS"
mark "tgw-cgw: 64 UDP flows vpc -> onprem by the AWS side's xfrm1-4: $FLOWS"
[ "$f1" -gt 0 ] && [ "$f2" -gt 0 ] && [ "$f3" -gt 0 ] && [ "$f4" -gt 0 ] ||
	fail "tgw-cgw: 64 UDP flows vpc -> onprem by tunnel $FLOWS: want all four used"
timing tgwc_return_flows_by_tunnel "$(tr ' ' / <<<"${FLOWS% }")"
# With /lab/bench (the harness's Options.Bench, CGW_VMTEST_BENCH=1):
# aggregate TCP throughput on-prem -> VPC, iperf3 -P 8 for 5 s, over the
# four ECMP tunnels and then over one (a /32 for the VPC host via
# cgw-xfrm1 in table 198, more specific than cgw's group route; the
# return traffic, ACKs, stays on the AWS side's ECMP route), and the ratio.
if [ -n "$BENCH" ]; then
	ip netns exec "$LAB-vpc" iperf3 -s >/tmp/iperf3-server.log 2>&1 &
	IPERF_PID=$!
	iperf_listening() { ip netns exec "$LAB-vpc" cat /proc/net/tcp /proc/net/tcp6 | awk '$2 ~ /:1451$/ && $4 == "0A"' | grep -q .; }
	wait_for "bench: iperf3 server listening in $LAB-vpc: $(cat /tmp/iperf3-server.log)" 10 iperf_listening
	# iperf_mbps LABEL: the receiver's sum in Mbit/s of iperf3 -P 8 -t 5
	# from the on-prem host to the VPC host.
	iperf_mbps() {
		local out
		out=$(ip netns exec "$NS_ONPREM" timeout 40 iperf3 -c "$VPC" -P 8 -t 5 -f m 2>&1) ||
			fail "$1: iperf3: $(tail -3 <<<"$out" | tr '\n' ' ')"
		printf '%s\n' "--- iperf3 $1" "$out" >>/tmp/cgwlab.log
		grep 'SUM.*receiver' <<<"$out" | grep -o '[0-9.]* Mbits/sec' | cut -d' ' -f1
	}
	# tx_mb: the MB each of cgw-xfrm1-4 sent so far ("a b c d").
	tx_mb() {
		local n
		for n in 1 2 3 4; do
			ip netns exec "$NS_CGW" cat "/sys/class/net/cgw-xfrm$n/statistics/tx_bytes"
		done | awk '{ printf "%s%.1f", (NR > 1 ? " " : ""), $1 / 1e6 }'
	}
	# tx_delta A B: B - A per tunnel, "n1/n2/n3/n4" MB.
	tx_delta() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); for (i = 1; i <= 4; i++) printf "%s%.1f", (i > 1 ? "/" : ""), y[i] - x[i] }'; }
	t=$EPOCHREALTIME
	tx0=$(tx_mb)
	ecmp_mbps=$(iperf_mbps "bench: four tunnels")
	tx1=$(tx_mb)
	cgw_ecmp_over "cgw-xfrm1 cgw-xfrm2 cgw-xfrm3 cgw-xfrm4 " || fail "bench: cgw's route not over four tunnels after the ECMP run: $(cgw_ecmp_devs)"
	run "bench: /32 via cgw-xfrm1" ip -n "$NS_CGW" route add "$VPC/32" dev cgw-xfrm1 table 198
	one_mbps=$(iperf_mbps "bench: one tunnel")
	tx2=$(tx_mb)
	run "bench: /32 removed" ip -n "$NS_CGW" route del "$VPC/32" dev cgw-xfrm1 table 198
	timing bench_ecmp_tx_mb_by_tunnel "$(tx_delta "$tx0" "$tx1")"
	timing bench_one_tunnel_tx_mb_by_tunnel "$(tx_delta "$tx1" "$tx2")"
	# The one-tunnel run must have left by cgw-xfrm1 only (the others
	# carry the probes, a few hundred bytes).
	awk -v a="$tx1" -v b="$tx2" 'BEGIN { split(a, x, " "); split(b, y, " "); for (i = 2; i <= 4; i++) if (y[i] - x[i] > 0.1) exit 1 }' ||
		fail "bench: the one-tunnel run did not leave by cgw-xfrm1 only: $(tx_delta "$tx1" "$tx2") MB"
	kill "$IPERF_PID" 2>/dev/null
	wait "$IPERF_PID" 2>/dev/null
	IPERF_PID=
	[ -n "$ecmp_mbps" ] && [ -n "$one_mbps" ] || fail "bench: no iperf3 receiver sum (four tunnels '$ecmp_mbps', one '$one_mbps')"
	timing bench_ecmp_mbps "$ecmp_mbps"
	timing bench_one_tunnel_mbps "$one_mbps"
	timing bench_ecmp_ratio "$(awk -v a="$ecmp_mbps" -v b="$one_mbps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
	timing bench_s "$(elapsed "$t")"
	mark "bench: iperf3 -P 8 on-prem -> VPC: $ecmp_mbps Mbit/s over four tunnels, $one_mbps Mbit/s over one ($(nproc) vCPUs)"
fi
# The group's 128 hash buckets, 32 per tunnel, before the flows' tunnels
# are recorded: a group still balancing moves idle buckets (flows) between
# members with or without a silence (a tunnel that joins takes over idle
# buckets), which is not what the silence is to show.
# group_buckets: the buckets of cgw's group per member, by its device
# ("cgw-xfrm1:32 cgw-xfrm2:32 …", sorted).
group_buckets() {
	local nh m
	nh=$(ip -n "$NS_CGW" route show table 198 "$VPCNET" 2>/dev/null | grep -o 'nhid [0-9]*' | head -1 | cut -d' ' -f2)
	[ -n "$nh" ] || return 0
	ip -n "$NS_CGW" nexthop bucket show id "$nh" 2>/dev/null | grep -o 'nhid [0-9]*' | cut -d' ' -f2 | sort | uniq -c |
		while read -r c m; do
			echo "$(ip -n "$NS_CGW" nexthop show id "$m" | grep -o 'dev [^ ]*' | cut -d' ' -f2):$c"
		done | sort | tr '\n' ' '
}
balanced() { [ "$(group_buckets)" = "cgw-xfrm1:32 cgw-xfrm2:32 cgw-xfrm3:32 cgw-xfrm4:32 " ]; }
wait_for "tgw-cgw: cgw's group balanced, 32 of its 128 buckets per tunnel: $(group_buckets)" 40 balanced
timing tgwc_balanced_s "$WAITED_S"
# Each flow's tunnel just before the silence.
flow_round "tgw-cgw: flows before the silence"
declare -A BEFORE
BEFORE=()
for p in "${!TUN_OF[@]}"; do BEFORE[$p]=${TUN_OF[$p]}; done
before3=$(read -r _ _ c _ <<<"$CGW_FLOWS"; echo "$c")
mark "tgw-cgw: before the silence, by tunnel: $CGW_FLOWS"

run "tgw-cgw: cgwlab fault silence-tunnel3 on" cgwlab fault silence-tunnel3 on
t=$EPOCHREALTIME
# cgw drops a tunnel from the group when its own path probes are lost while
# the other tunnel's are answered (about a second), else when its BGP
# session ends (hold timer 30 s) or charon's DPD clears the SA; the limit
# is the hold timer with a margin. Tunnels 1, 2 and 4 must stay in all
# along.
gone3() {
	local d
	cgw_alive
	d=$(cgw_ecmp_devs)
	for n in 1 2 4; do
		grep -q "cgw-xfrm$n " <<<"$d" || fail "tgw-cgw: cgw-xfrm$n left cgw's group while tunnel 3 was silenced: '$d' $(ip -n "$NS_CGW" route show table 198 "$VPCNET" | tr '\n' ' ')"
	done
	[ "$d" = "cgw-xfrm1 cgw-xfrm2 cgw-xfrm4 " ]
}
wait_for "tgw-cgw: cgw-xfrm3 out of cgw's route, 1, 2 and 4 in: $(cgw_ecmp_devs)" 75 gone3
timing tgwc_silenced_path_gone_s "$WAITED_S"
mark "tgw-cgw: tunnel 3 silenced; cgw's group without it after $WAITED_S s: $(cgw_ecmp_devs), buckets $(group_buckets)"
# The path probes: when tunnel 3's own probes took it out (the monitor's
# replies came back by another tunnel), it left within about a second of
# its first lost probe, and connection 1, both of whose tunnels stayed
# healthy, did not fail over. When the replies' way back was tunnel 3
# itself (the AWS side's hash, seeded at boot), every probe went
# unanswered and it left at DPD or the hold timer, as before.
if grep -q "own probes unanswered.* connection=conn2 tunnel=1 " /tmp/cgw.log; then
	timing tgwc_path_probes 1
	f=$(cgw status --socket "$SOCK" --json 2>/dev/null | sed '/"connections": \[/,$d' | grep -o '"failovers": [0-9]*' | grep -o '[0-9]*$')
	[ "$f" = 0 ] || fail "tgw-cgw: connection 1 failed over ($f) while only tunnel 3 (connection 2's) was silenced: $(grep -E 'failover|own probes' /tmp/cgw.log | tail -5 | tr '\n' ' ')"
	mark "tgw-cgw: tunnel 3's own probes took it out; connection 1 did not fail over"
else
	timing tgwc_path_probes 0
	mark "tgw-cgw: every probe unanswered (the way back was tunnel 3): out at DPD or the hold timer"
fi
wait_for "tgw-cgw: tunnel 3 out of the AWS side's route back, 1, 2 and 4 in: $(aws_return)" 75 without3 tgw-cgw
timing tgwc_aws_silenced_path_gone_s "$(elapsed "$t")"
ping_ok tgw-cgw
flow_round "tgw-cgw: flows after the silence"
mark "tgw-cgw: after the silence, by tunnel: $CGW_FLOWS"
moved=0 strayed=
for p in "${!BEFORE[@]}"; do
	b=${BEFORE[$p]} a=${TUN_OF[$p]:-none}
	[ "$a" = 3 ] && fail "tgw-cgw: flow from port $p still left by cgw-xfrm3 after it left the group"
	if [ "$b" = 3 ]; then
		moved=$((moved + 1))
	elif [ "$a" != "$b" ]; then
		strayed+="$p:$b->$a "
	fi
done
timing tgwc_flows_silenced_by_tunnel "$(tr ' ' / <<<"${CGW_FLOWS% }")"
timing tgwc_flows_moved "$moved/64"
[ -z "$strayed" ] || fail "tgw-cgw: flows of tunnels 1, 2 and 4 moved when tunnel 3 left (port:before->after): $strayed"
[ "$moved" -eq "$before3" ] && [ "$moved" -gt 0 ] || fail "tgw-cgw: $moved flows moved, tunnel 3 had $before3"
mark "tgw-cgw: only tunnel 3's $moved flows moved, the other $((64 - moved)) kept their tunnels"
flows_by_tunnel
read -r f1 f2 f3 f4 <<<"$FLOWS"
[ "$f3" -eq 0 ] && [ "$f1" -gt 0 ] && [ "$f2" -gt 0 ] && [ "$f4" -gt 0 ] ||
	fail "tgw-cgw: 64 UDP flows vpc -> onprem with tunnel 3 silenced, by tunnel $FLOWS: want none over tunnel 3, the rest over 1, 2 and 4"
timing tgwc_return_flows_silenced_by_tunnel "$(tr ' ' / <<<"${FLOWS% }")"
kill "$FLOW_PID" 2>/dev/null
wait "$FLOW_PID" 2>/dev/null
FLOW_PID=
run "tgw-cgw: cgwlab fault silence-tunnel3 off" cgwlab fault silence-tunnel3 off
ip netns exec "$NS_CGW" nft delete table ip cgwflows
stop_cgw tgwc
n=$(ip netns exec "$NS_CGW" cat /proc/net/tcp | awk '($2 ~ /:00B3$/ || $3 ~ /:00B3$/) && ($4 == "0A" || $4 == "01")' | wc -l)
[ "$n" -eq 0 ] || fail "tgw-cgw: $n TCP 179 sockets listening or established in $NS_CGW after SIGTERM"
left=$(ip -n "$NS_CGW" nexthop show proto 198 2>/dev/null | tr '\n' ';')
[ -z "$left" ] || fail "tgw-cgw: nexthops with proto 198 left after SIGTERM: $left"
mark "tgw-cgw: PASS"

dump "end of a passing run"
cgwlab down >>/tmp/cgwlab.log 2>&1 || fail "cgwlab down: $(tail -3 /tmp/cgwlab.log | tr '\n' ' ')"
timing total_guest_s "$(elapsed "$START")"
# The RESULT line comes from the systemd phase (/lab/systemd.sh), which
# /init runs under systemd when this script exits 0.
mark "lab phases: PASS"
echo "LAB PASS"
exit 0
