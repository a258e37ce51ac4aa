#!/bin/bash
# systemd.sh: phase 4 of the vmtest guest, configs/cgw.service under a real
# systemd as PID 1. /init execs systemd once lab.sh's phases passed;
# cgw-vmtest.service runs this script. It brings the lab up in kernel mode,
# writes /etc/cgw/cgw.yaml for it and drives cgw.service (the shipped unit
# with the drop-in cgw.service.d/vmtest.conf: the lab's cgw namespace, a
# 10 s watchdog, the log in a file) through systemctl:
# - `systemctl start cgw` returns once cgw sent READY=1 (Type=notify):
#   active/running, STATUS= text from cgw, both tunnels up;
# - the sandbox is in force (seccomp, no_new_privs, the capability bounding
#   set, the lab's network namespace) and cgw works in it: netlink (XFRM
#   interfaces, table 198, nft table inet cgw), raw ICMP (the monitor
#   probes are answered), the VICI socket (tunnels up), ping onprem -> vpc;
# - the watchdog is fed: WatchdogTimestamp advances and over more than two
#   WatchdogSec periods the service is not restarted;
# - `systemctl reload cgw` applies a changed monitors list without a
#   restart;
# - after a SIGKILL, ExecStopPost (cgw cleanup) removes what the dead cgw
#   left (its connections in charon, its routes) and Restart=on-failure
#   brings cgw back;
# - `systemctl stop cgw` ends it cleanly, ExecStopPost ran and succeeded,
#   and nothing is left: no XFRM interface, proto-198 route or rule, nft
#   table inet cgw, cgw-* connection or SA in charon.
# Then `systemctl poweroff`. Output as lab.sh's: "@@ ..." progress and
# "TIMING k=v" on ttyS0 (through the unit's tty), one "RESULT PASS" or
# "RESULT FAIL <why>", dumps on ttyS1.
set -u
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/busybox
export HOME=/root LC_ALL=C
# systemctl's output goes to serial ports: no colours, links or pager.
export SYSTEMD_COLORS=0 SYSTEMD_URLIFY=0 SYSTEMD_PAGER=

LAB=cgwlab
DIR=/run/cgwlab/$LAB
NS_CGW=$LAB-cgw
NS_ONPREM=$LAB-onprem
VPC=10.10.100.110
VPCNET=10.10.100.0/24
VICI=unix://$DIR/cgw/charon.vici
CONF=/etc/cgw/cgw.yaml
SOCK=/run/cgw/cgw.sock # in the unit's RuntimeDirectory
CGWLOG=/run/vmtest-cgw.log
DETAIL=/dev/ttyS1
WATCHDOG_S=10 # cgw.service.d/vmtest.conf
START=$EPOCHREALTIME

elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
mark() { echo "@@ $(elapsed "$START") systemd: $*"; }
timing() { echo "TIMING $1=$2"; }
prop() { systemctl show -p "$1" --value cgw.service 2>/dev/null; }

dump() {
	{
		echo "===== systemd phase dump at $(elapsed "$START") s: $1"
		echo "--- systemctl status cgw"
		systemctl status --no-pager cgw.service 2>&1
		echo "--- systemctl show cgw"
		systemctl show cgw.service 2>&1 | grep -E '^(Active|Sub|Load|Result|StatusText|MainPID|NRestarts|Watchdog|ExecMain|ExecStopPost|ExecReload|Exec|Network|Condition)'
		echo "--- systemctl list-units"
		systemctl list-units --all --no-pager 2>&1
		echo "--- cgw status"
		cgw status --socket "$SOCK" --json 2>&1
		echo "--- cgw log ($CGWLOG)"
		cat "$CGWLOG" 2>&1
		for c in "-d link show type xfrm" "route show table all proto 198" "-d rule show"; do
			echo "--- ip -n $NS_CGW $c"
			ip -n "$NS_CGW" $c 2>&1
		done
		echo "--- nft list ruleset ($NS_CGW)"
		ip netns exec "$NS_CGW" nft list ruleset 2>&1
		echo "--- swanctl --list-conns (cgw side)"
		swanctl --list-conns --uri "$VICI" 2>&1
		echo "--- cgwlab log"
		cat /tmp/cgwlab-systemd.log 2>&1
		echo "--- cgw-side charon log"
		cat "$DIR/cgw/charon.log" 2>&1 | tail -80
		echo "--- kernel log: systemd (tail)"
		dmesg 2>&1 | grep -v 'audit' | tail -80
		echo "===== end of systemd phase dump: $1"
	} >"$DETAIL" 2>&1
}

fail() {
	mark "FAIL: $*"
	dump "failure: $*"
	echo "RESULT FAIL systemd: $*"
	timeout 30 systemctl stop cgw.service >/dev/null 2>&1
	cgwlab down >>/tmp/cgwlab-systemd.log 2>&1
	sync
	systemctl --no-block poweroff 2>/dev/null
	exit 1
}

# run LABEL CMD...: run CMD, fail with its output when it fails.
run() {
	local label=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	printf '%s\n' "+ $* (status $rc)" "$out" >>/tmp/cgwlab-systemd.log
	[ "$rc" -eq 0 ] || fail "$label: $(echo "$out" | tail -3 | tr '\n' ' ')"
}

# wait_for LABEL MAX CMD...: run CMD every 0.2 s until it succeeds; fail
# after MAX s. Sets WAITED_S.
wait_for() {
	local label=$1 max=$2 t0=$EPOCHREALTIME
	shift 2
	until "$@"; do
		[ "$(elapsed "$t0" | cut -d. -f1)" -ge "$max" ] && fail "$label: not within $max s"
		sleep 0.2
	done
	WAITED_S=$(elapsed "$t0")
}

# cgw_status: cgw status --json, whitespace removed.
cgw_status() { cgw status --socket "$SOCK" --json 2>/dev/null | tr -d ' \n\t' | sed 's/,"connections":.*//'; }
replies() { cgw_status | grep -o '"replies":[0-9]*' | head -1 | cut -d: -f2; }
ifid_of() {
	local x
	x=$(ip -n "$NS_CGW" -d link show dev "$1" 2>/dev/null | grep -o 'if_id 0x[0-9a-f]*' | head -1)
	[ -n "$x" ] && echo $((${x#if_id }))
}
route_dev() { ip -n "$NS_CGW" route show table 198 "$VPCNET" 2>/dev/null | head -1 | grep -o 'dev [^ ]*' | cut -d' ' -f2; }

# The watchdog: WatchdogTimestampMonotonic changes on every WATCHDOG=1.
WD_LAST= WD_CHANGES=0
watchdog_sample() {
	local v
	v=$(prop WatchdogTimestampMonotonic)
	if [ -n "$v" ] && [ "$v" != 0 ] && [ "$v" != "$WD_LAST" ]; then
		[ -n "$WD_LAST" ] && WD_CHANGES=$((WD_CHANGES + 1))
		WD_LAST=$v
	fi
}

boot_s=$(awk -v a="$(cat /run/vmtest-systemd-exec 2>/dev/null)" '{ printf "%.2f", $1 - a }' /proc/uptime)
timing systemd_boot_s "$boot_s"
mark "$(systemctl --version | head -1), PID 1 is $(cat /proc/1/comm), up $boot_s s after exec; system $(systemctl is-system-running 2>&1)"
[ "$(cat /proc/1/comm)" = systemd ] || fail "PID 1 is $(cat /proc/1/comm), not systemd"
[ "$(systemctl show -p LoadState --value cgw.service)" = loaded ] ||
	fail "cgw.service is not loaded: $(systemctl status --no-pager cgw.service 2>&1 | head -5 | tr '\n' ' ')"
# The unit refuses to start without a configuration (ConditionPathExists).
systemctl start cgw.service >/dev/null 2>&1
[ "$(prop ActiveState)" = inactive ] && [ "$(prop ConditionResult)" = no ] ||
	fail "without $CONF cgw.service should be skipped by its condition: $(prop ActiveState), condition $(prop ConditionResult)"
mark "cgw.service loaded; skipped by ConditionPathExists=$CONF while there is none"

t=$EPOCHREALTIME
run "cgwlab up --dataplane kernel" cgwlab up --dataplane kernel
timing sd_lab_up_s "$(elapsed "$t")"
# The lab's cgw.yaml, with the status socket in the unit's
# RuntimeDirectory (/run/cgw, created by systemd with mode 0750).
mkdir -p /etc/cgw
sed "s|^status_socket: .*|status_socket: $SOCK|" "$DIR/cgw.yaml" >"$CONF"
chmod 600 "$CONF"
grep -q "^status_socket: $SOCK\$" "$CONF" || fail "cannot point $CONF's status_socket at $SOCK"
grep -q '^monitors: \[10.10.100.110\]$' "$CONF" || fail "the lab's cgw.yaml does not say monitors: [10.10.100.110]: $(grep monitors "$CONF")"
mark "lab up; $CONF written"

# ------------------------------------------------- start: READY=1
t=$EPOCHREALTIME
out=$(timeout 90 systemctl start cgw.service 2>&1) || fail "systemctl start cgw: $out"
start_s=$(elapsed "$t")
timing sd_start_ready_s "$start_s"
state="$(prop ActiveState)/$(prop SubState)"
[ "$state" = active/running ] || fail "after systemctl start cgw: $state, want active/running"
[ "$(prop Type)" = notify ] || fail "cgw.service is Type=$(prop Type), want notify"
MAIN=$(prop MainPID)
mark "systemctl start cgw returned (READY=1) after $start_s s: $state, main PID $MAIN, status '$(prop StatusText)'"
both_up() { [ "$(cgw_status | grep -o '"up":true' | wc -l)" -eq 2 ]; }
wait_for "both tunnels up in cgw status under systemd" 40 both_up
timing sd_tunnels_up_s "$(elapsed "$t")"
status_text() { [ "$(prop StatusText)" = "2 of 2 tunnels up" ]; }
wait_for "StatusText '2 of 2 tunnels up' (cgw's STATUS=): '$(prop StatusText)'" 10 status_text
mark "both tunnels up; StatusText '$(prop StatusText)'"

# ------------------------------------------------- the sandbox holds, cgw works in it
ps=/proc/$MAIN/status
grep -q '^Seccomp:[[:space:]]*2$' "$ps" || fail "cgw runs without a seccomp filter: $(grep Seccomp "$ps")"
grep -q '^NoNewPrivs:[[:space:]]*1$' "$ps" || fail "cgw runs without no_new_privs"
capbnd=$(awk '/^CapBnd/ { print $2 }' "$ps")
# CAP_NET_ADMIN (12), CAP_NET_RAW (13), CAP_SYS_ADMIN (21).
[ "$capbnd" = 0000000000203000 ] || fail "cgw's capability bounding set is $capbnd, want 0000000000203000 (NET_ADMIN NET_RAW SYS_ADMIN)"
[ "$(ip netns identify "$MAIN")" = "$NS_CGW" ] || fail "cgw runs in network namespace '$(ip netns identify "$MAIN")', want $NS_CGW"
[ "$(stat -c %a /run/cgw)" = 750 ] || fail "RuntimeDirectory /run/cgw has mode $(stat -c %a /run/cgw), want 750"
[ "$(stat -c %a "$SOCK")" = 600 ] || fail "the status socket has mode $(stat -c %a "$SOCK"), want 600"
mark "sandbox: seccomp filter, no_new_privs, CapBnd $capbnd, netns $NS_CGW, /run/cgw 750, socket 600"
n=$(ip -n "$NS_CGW" -o link show type xfrm | wc -l)
[ "$n" -eq 2 ] || fail "netlink: want 2 cgw XFRM interfaces, have $n"
dev=$(route_dev)
[ -n "$(ifid_of "$dev")" ] || fail "netlink: no route to $VPCNET via a cgw XFRM interface in table 198: $(ip -n "$NS_CGW" route show table 198)"
ip netns exec "$NS_CGW" nft list table inet cgw >/dev/null 2>&1 || fail "netlink: no nft table inet cgw (the MSS clamp)"
r0=$(replies)
more_replies() { [ "$(replies)" -gt "$((${r0:-0} + 2))" ]; }
wait_for "raw ICMP: cgw's monitor probes answered (replies from $r0)" 15 more_replies
out=$(ip netns exec "$NS_ONPREM" ping -n -q -c 3 -i 0.2 -W 2 "$VPC" 2>&1) ||
	fail "ping $VPC from onprem with cgw under systemd: $(echo "$out" | grep 'packets transmitted')"
mark "cgw works in the sandbox: XFRM interfaces, $VPCNET via $dev in table 198, nft inet cgw, probes answered ($(replies) replies), ping onprem -> vpc: $(echo "$out" | grep -o '[0-9]* received')"

# ------------------------------------------------- watchdog and reload
[ "$(prop WatchdogUSec)" = ${WATCHDOG_S}s ] || fail "WatchdogUSec is '$(prop WatchdogUSec)', want ${WATCHDOG_S}s"
WD_T0=$EPOCHREALTIME
watchdog_sample

sed -i 's|^monitors: .*|monitors: [10.10.100.1, 10.10.100.110]|' "$CONF"
t=$EPOCHREALTIME
out=$(timeout 60 systemctl reload cgw.service 2>&1) || fail "systemctl reload cgw: $out"
timing sd_reload_s "$(elapsed "$t")"
new_monitors() { cgw_status | grep -q '"monitors":\["10.10.100.1","10.10.100.110"\]'; }
wait_for "cgw status shows the reloaded monitors [10.10.100.1, 10.10.100.110]: $(cgw_status | grep -o '"monitors":[^]]*]')" 15 new_monitors
reload_s=$(elapsed "$t")
timing sd_reload_applied_s "$reload_s"
[ "$(prop MainPID)" = "$MAIN" ] || fail "reload restarted cgw: main PID $(prop MainPID), was $MAIN"
state="$(prop ActiveState)/$(prop SubState)"
[ "$state" = active/running ] || fail "after systemctl reload cgw: $state, want active/running"
grep -q 'monitors changed' "$CGWLOG" || fail "cgw's log does not say the monitors changed"
mark "systemctl reload applied the new monitors in $reload_s s, same main PID, $state"
r0=$(replies)
wait_for "monitor probes answered after the reload (replies from $r0)" 15 more_replies

# More than two watchdog periods with the same process and no restart,
# the timestamp moving on.
until [ "$(elapsed "$WD_T0" | cut -d. -f1)" -ge $((2 * WATCHDOG_S + 2)) ]; do
	watchdog_sample
	sleep 0.5
done
watchdog_sample
[ "$(prop MainPID)" = "$MAIN" ] && [ "$(prop NRestarts)" = 0 ] && [ "$(prop ActiveState)" = active ] ||
	fail "watchdog: main PID $(prop MainPID) (was $MAIN), $(prop NRestarts) restarts, $(prop ActiveState)/$(prop SubState) ($(prop Result))"
[ "$WD_CHANGES" -ge 3 ] || fail "watchdog: WatchdogTimestamp changed $WD_CHANGES times in $(elapsed "$WD_T0") s (WatchdogSec ${WATCHDOG_S}s), want at least 3"
timing sd_watchdog_pings "$WD_CHANGES"
mark "watchdog fed: WatchdogTimestamp advanced $WD_CHANGES times in $(elapsed "$WD_T0") s (WatchdogSec ${WATCHDOG_S}s), no restart"

# ------------------------------------------------- a crash: ExecStopPost cleans up, Restart=
# SIGKILL leaves cgw's connections in charon and its routes, rules,
# interfaces and nft table in the kernel; ExecStopPost (cgw cleanup, its
# output in the same log) removes them before systemd restarts cgw.
lines=$(wc -l <"$CGWLOG")
t=$EPOCHREALTIME
run "systemctl kill --signal=KILL cgw" systemctl kill --signal=KILL cgw.service
restarted() {
	[ "$(prop NRestarts)" = 1 ] && [ "$(prop ActiveState)/$(prop SubState)" = active/running ] &&
		[ "$(prop MainPID)" != "$MAIN" ] && [ "$(prop MainPID)" != 0 ]
}
wait_for "cgw restarted (Restart=on-failure) after SIGKILL: $(prop NRestarts) restarts, $(prop ActiveState)/$(prop SubState)" 60 restarted
timing sd_crash_restart_s "$(elapsed "$t")"
after=$(tail -n +"$((lines + 1))" "$CGWLOG")
grep -q '^2 cgw connection(s) removed from charon$' <<<"$after" && grep -q '^routes, rules, guards, XFRM interfaces and the nft table removed$' <<<"$after" ||
	fail "after SIGKILL, ExecStopPost's cgw cleanup did not remove the 2 connections and the routes: $(grep -v '^time=' <<<"$after" | tr '\n' ' ')"
MAIN=$(prop MainPID)
wait_for "both tunnels up again after the restart" 40 both_up
mark "SIGKILL: ExecStopPost's cleanup removed the 2 connections and the routes, cgw restarted (main PID $MAIN), both tunnels up after $(elapsed "$t") s"

# ------------------------------------------------- stop: ExecStopPost cleanup, nothing left
lines=$(wc -l <"$CGWLOG")
t=$EPOCHREALTIME
out=$(timeout 60 systemctl stop cgw.service 2>&1) || fail "systemctl stop cgw: $out"
stop_s=$(elapsed "$t")
timing sd_stop_s "$stop_s"
# A failed ExecStopPost would make the result exit-code.
[ "$(prop ActiveState)" = inactive ] && [ "$(prop Result)" = success ] ||
	fail "after systemctl stop cgw: $(prop ActiveState)/$(prop SubState), result $(prop Result)"
after=$(tail -n +"$((lines + 1))" "$CGWLOG")
grep -q '^0 cgw connection(s) removed from charon$' <<<"$after" && grep -q '^routes, rules, guards, XFRM interfaces and the nft table removed$' <<<"$after" ||
	fail "after systemctl stop, ExecStopPost's cgw cleanup did not run (or found cgw's connections still loaded): $(grep -v '^time=' <<<"$after" | tr '\n' ' ')"
left=$(ip -n "$NS_CGW" -o link show type xfrm | awk -F': ' '{ printf "%s ", $2 }')
[ -z "$left" ] || fail "XFRM interfaces left after systemctl stop: $left"
left=$(ip -n "$NS_CGW" route show table all proto 198 | tr '\n' ';')
[ -z "$left" ] || fail "routes with proto 198 left after systemctl stop: $left"
left=$(ip -n "$NS_CGW" -d rule show | grep -w 'proto 198' | tr '\n' ';')
[ -z "$left" ] || fail "rules with proto 198 left after systemctl stop: $left"
ip netns exec "$NS_CGW" nft list table inet cgw >/dev/null 2>&1 && fail "nft table inet cgw left after systemctl stop"
conns=$(swanctl --list-conns --uri "$VICI" 2>&1) || fail "swanctl --list-conns: $conns"
left=$(grep -o '^cgw-[^:]*' <<<"$conns" | tr '\n' ' ')
[ -z "$left" ] || fail "charon connections left after systemctl stop: $left"
sas=$(swanctl --list-sas --uri "$VICI" 2>&1) || fail "swanctl --list-sas: $sas"
left=$(grep -o '^cgw-[^:]*' <<<"$sas" | tr '\n' ' ')
[ -z "$left" ] || fail "charon SAs left after systemctl stop: $left"
mark "systemctl stop: inactive (success) in $stop_s s, ExecStopPost's cgw cleanup ran; no XFRM interface, proto-198 route or rule, nft table inet cgw, cgw-* connection or SA"

dump "end of a passing systemd phase"
cgwlab down >>/tmp/cgwlab-systemd.log 2>&1 || fail "cgwlab down: $(tail -3 /tmp/cgwlab-systemd.log | tr '\n' ' ')"
timing sd_phase_s "$(elapsed "$START")"
echo "RESULT PASS"
sync
# No logind or D-Bus in the guest: systemctl fails to ask logind ("Failed to
# connect to bus") and starts poweroff.target through PID 1 itself.
systemctl --no-block poweroff 2>/dev/null
