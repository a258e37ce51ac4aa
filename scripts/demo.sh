#!/usr/bin/env bash
# The cgw demo on the lab (run by `sudo make demo`, after the build):
# a simulated AWS VPN connection in namespaces, cgw run in the gateway's
# namespace with the connection's downloaded file, both tunnels, a ping from
# the on-premises host to the VPC host, cgw status, cgw diagnose (healthy,
# then a VPC route table fault named through the lab's fake EC2 API); then the
# same connection with dynamic routing (FRR bgpd as AWS's BGP side): BGP
# sessions over both tunnels, the VPC prefix learned, a ping, the standby
# tunnel's announcement prepended as AWS sees it; teardown.
#
# Variables (none is CGW_*: cgw refuses CGW_ variables that are not its keys,
# and it inherits this script's environment):
#   DEMO_NAME  lab name, 1-20 of [a-z0-9-] starting with a letter (default
#              cgwdemo); the namespaces, sockets and files under
#              /run/cgwlab/DEMO_NAME are the lab's, so two demos with two
#              names run side by side
#   BIN        where cgw and cgwlab are (default ./bin)
#   NO_COLOR   set: no bold step headings (also none unless stdout and stderr
#              are terminals)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/bin}
if [[ -n ${CGW_DEMO_NAME:-} ]]; then
	# The old name; cgw's strict environment check would refuse it.
	echo "demo: CGW_DEMO_NAME is now DEMO_NAME; using DEMO_NAME=$CGW_DEMO_NAME" >&2
	DEMO_NAME=${DEMO_NAME:-$CGW_DEMO_NAME}
	unset CGW_DEMO_NAME
fi
NAME=${DEMO_NAME:-cgwdemo}
if ! [[ $NAME =~ ^[a-z][a-z0-9-]{0,19}$ ]]; then
	echo "demo: DEMO_NAME=$NAME: want 1-20 lowercase letters, digits or '-', starting with a letter" >&2
	exit 2
fi
DIR=/run/cgwlab/$NAME
T0=$EPOCHREALTIME
cgw_pid=""
bold="" plain=""
if [[ -t 1 && -t 2 && -z ${NO_COLOR:-} ]]; then
	bold=$'\033[1m' plain=$'\033[0m'
fi

since() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%5.2fs", b - a }'; }
step() { printf '\n%s== [%s] %s%s\n' "$bold" "$(since)" "$*" "$plain" >&2; }
lab() { "$BIN/cgwlab" --name "$NAME" "$@"; }

finish() {
	rc=$?
	if [[ -n $cgw_pid ]] && kill -0 "$cgw_pid" 2>/dev/null; then
		step "stopping cgw (SIGTERM): it terminates and unloads its tunnels"
		kill -TERM "$cgw_pid"
		wait "$cgw_pid" || true
	fi
	if [[ $rc -ne 0 && -f $DIR/cgw.log ]]; then
		echo "--- cgw log (last 30 lines)" >&2
		tail -n 30 "$DIR/cgw.log" >&2 || true
	fi
	step "tearing the lab down"
	lab down || true
	if [[ $rc -eq 0 ]]; then
		step "demo finished in $(since)"
	else
		step "demo FAILED (exit $rc) after $(since)"
	fi
	exit "$rc"
}
[[ $(id -u) -eq 0 ]] || { echo "the demo needs root: sudo make demo" >&2; exit 1; }
trap finish EXIT
lab down >/dev/null 2>&1 || true

step "bringing the lab up: vpc, aws (two AWS endpoints, real charon), inet, nat (Elastic IP), cgw, onprem"
lab up

step "the download AWS would give for this connection, as cgw reads it"
"$BIN/cgw" import "$DIR/generic.txt"

step "the lab's cgw.yaml"
cat "$DIR/cgw.yaml"

step "starting cgw run in the gateway's namespace (log: $DIR/cgw.log)"
# ip netns exec execs cgw, so $! is cgw itself and gets our SIGTERM.
ip netns exec "$NAME-cgw" "$BIN/cgw" run --config "$DIR/cgw.yaml" >"$DIR/cgw.log" 2>&1 &
cgw_pid=$!

step "waiting for both tunnels"
deadline=$((SECONDS + 60))
while ((SECONDS < deadline)); do
	if up=$("$BIN/cgw" status --socket "$DIR/cgw.sock" --json 2>/dev/null | sed '/"connections": \[/,$d' | grep -c '"up": true'); [[ $up -eq 2 ]]; then
		break
	fi
	kill -0 "$cgw_pid" 2>/dev/null || { echo "cgw exited" >&2; exit 1; }
	sleep 0.1
done
[[ ${up:-0} -eq 2 ]] || { echo "both tunnels were not up within 60 s" >&2; exit 1; }
echo "both tunnels up after $(since)" >&2

step "ping from the on-premises host (172.31.16.103) to the VPC host (10.10.100.110)"
lab exec onprem -- ping -n -c 5 -i 0.2 -W 1 10.10.100.110

step "cgw status"
"$BIN/cgw" status --socket "$DIR/cgw.sock"

if "$BIN/cgw" diagnose --help >/dev/null 2>&1; then
	step "cgw diagnose 10.10.100.110 (from the gateway's inside address, with a capture on the VPC host)"
	ip netns exec "$NAME-cgw" "$BIN/cgw" diagnose --config "$DIR/cgw.yaml" \
		--receiver-cmd "ip netns exec $NAME-vpc $BIN/cgw capture --json --iface eth0" --pcap-out "$DIR/evidence.pcapng" 10.10.100.110

	step "a VPC route table loses the reply (cgwlab fault vpc-route-table); diagnose --aws reads the AWS side from the lab's fake EC2 API (cgwlab ec2-api) and names the route table"
	aws_env=$(lab ec2-api)
	lab fault vpc-route-table on
	# Only the fake's variables (AWS_ENDPOINT_URL_EC2, fake keys, region) point the AWS SDK anywhere.
	rc=0
	env $(grep -v '^#' "$aws_env") ip netns exec "$NAME-cgw" "$BIN/cgw" diagnose --config "$DIR/cgw.yaml" --aws 10.10.100.110 || rc=$?
	echo "cgw diagnose exit status $rc (13: Case 3)" >&2
	lab fault vpc-route-table off
else
	step "cgw diagnose: not built yet"
fi

step "stopping cgw; the same connection with dynamic routing: cgwlab up --bgp (FRR bgpd plays AWS: AS 64512, hold 30 s)"
kill -TERM "$cgw_pid"
wait "$cgw_pid" || true
cgw_pid=""
lab down
lab up --bgp

step "cgw run --check: the BGP sessions cgw will run, from the BGP download"
"$BIN/cgw" run --check --config "$DIR/cgw.yaml"

step "starting cgw run again (log: $DIR/cgw.log)"
ip netns exec "$NAME-cgw" "$BIN/cgw" run --config "$DIR/cgw.yaml" >"$DIR/cgw.log" 2>&1 &
cgw_pid=$!

step "waiting for both BGP sessions and the VPC prefix"
deadline=$((SECONDS + 90))
while ((SECONDS < deadline)); do
	st=$("$BIN/cgw" status --socket "$DIR/cgw.sock" --json 2>/dev/null || true)
	if [[ $(grep -c '"state": "established"' <<<"$st") -eq 2 ]] && grep -q '"installed": true' <<<"$st"; then
		break
	fi
	kill -0 "$cgw_pid" 2>/dev/null || { echo "cgw exited" >&2; exit 1; }
	sleep 0.1
done
grep -q '"installed": true' <<<"$st" || { echo "no BGP route installed within 90 s" >&2; exit 1; }
echo "sessions established and the VPC prefix learned after $(since)" >&2

step "ping from the on-premises host to the VPC host, over the BGP-learned route"
lab exec onprem -- ping -n -c 5 -i 0.2 -W 1 10.10.100.110

step "cgw status"
"$BIN/cgw" status --socket "$DIR/cgw.sock"

step "the AWS side's view: the on-premises prefix over both tunnels, the standby's AS path prepended"
lab bgp status
