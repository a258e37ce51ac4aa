package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Kernel mode (Options.Dataplane = DataplaneKernel) makes the AWS side
// route-based, like AWS's own endpoints: one XFRM interface per tunnel in
// the aws namespace (xfrm1, xfrm2; if_id = the tunnel number, the AWS
// inside address on it), CHILD_SAs with if_id_in/out = the tunnel number
// and 0.0.0.0/0 selectors, and a route for the customer network through
// one live tunnel.
//
// Which tunnel carries AWS's return traffic mimics AWS with static routing:
// the lowest-numbered tunnel with an installed CHILD_SA. AWS keeps using a
// tunnel whose customer end has gone silent until its own DPD gives up (the
// lab's AWS side: dpd_delay 10 s, 3 retransmits 1 s apart, action clear),
// and only then moves the route to the other tunnel. The mechanism is the
// aws charon's updown script (awsUpdownScript): on every CHILD_SA up or down
// it counts the tunnel's SAs in <dir>/aws/updown/ and re-points the route; with no
// tunnel up the customer network is a blackhole (AWS does not send it to
// the internet).
//
// With BGP (Options.BGP) the AWS side's bgpd peers from the AWS inside
// addresses on xfrm1/xfrm2, so each session crosses its own tunnel's
// 0.0.0.0/0 CHILD_SA, as on AWS's route-based endpoints, and the AWS
// side's return route follows BGP's best path, as AWS's does: FRR's zebra
// runs next to bgpd (in <dir>/aws/frr, with its own zserv socket) and
// installs the best path to the customer network (`172.31.16.0/20 via
// 169.254.x.2 dev xfrmN proto bgp metric 20`), one path, no ECMP, like a
// virtual private gateway. So traffic comes back over the tunnel whose
// announcement is not prepended (cgw prepends on its standby), or has the
// lower MED, and moves when that changes or the session's hold timer
// expires. The updown script then only records SAs and leaves the route
// alone, and the blackhole for "no path" sits in table 253 behind two
// rules (priority 215: the main table without its default route; 216:
// table 253), where zebra does not take it for a better route than BGP's.
// In the libipsec lab the return path follows the newest SA instead, not
// BGP.

// xfrmName is the name of tunnel n's XFRM interface in the aws namespace.
func xfrmName(n int) string { return fmt.Sprintf("xfrm%d", n) }

// plainXfrmName is the name of tunnel n's XFRM interface PlainInitiate
// makes in the cgw namespace (cgw's own are named cgw-…).
func plainXfrmName(n int) string { return fmt.Sprintf("plain-xfrm%d", n) }

// awsUpdownFile is the AWS side's updown script in the state directory;
// awsUpdownDir holds its per-SA marker files. Both as charon sees them
// (/run is <dir>/aws).
const (
	awsUpdownFile = "updown.sh"
	awsUpdownDir  = "updown"
)

// awsUpdownScript renders the AWS side's updown script. ip and flock are
// absolute paths (flock "" when absent): charon runs the script with its
// own environment, and in a busybox-based guest a bare name could pick up
// a busybox applet.
func awsUpdownScript(ip, flock string) string {
	lock := ":"
	if flock != "" {
		lock = flock + " 9"
	}
	return fmt.Sprintf(`# written by cgwlab: the AWS side's route back to the customer network.
# charon's updown plugin runs this for every CHILD_SA that comes up or goes
# down (PLUTO_VERB up-client/down-client, PLUTO_CONNECTION tunnelN,
# PLUTO_UNIQUEID the IKE_SA). Like AWS with static routing, the customer
# network goes through the lowest-numbered tunnel with an installed SA; with
# none it is a blackhole. With BGP (/run/%[5]s exists) the route is BGP's
# (zebra installs bgpd's best path), and this script only records SAs.
set -u
ip=%[1]s
dir=/run/%[2]s
n=${PLUTO_CONNECTION#tunnel}
mkdir -p "$dir"
exec 9>"$dir/.lock"
%[3]s
# $dir/tunnelN counts tunnel N's CHILD_SAs up. charon runs this script
# only when a CHILD_SA comes up or goes, not for rekeys: a rekeyed CHILD_SA
# or IKE_SA (a new PLUTO_UNIQUEID for the same children) changes nothing.
read -r c 2>/dev/null <"$dir/tunnel$n" || c=0
case "${PLUTO_VERB:-}" in
up-client) echo $((c + 1)) >"$dir/tunnel$n" ;;
down-client) if [ "$c" -gt 1 ]; then echo $((c - 1)) >"$dir/tunnel$n"; else rm -f "$dir/tunnel$n"; fi ;;
*) exit 0 ;;
esac
if [ -e /run/%[5]s ]; then
	echo "cgwlab updown: $PLUTO_VERB $PLUTO_CONNECTION: %[4]s is left to BGP"
	exit 0
fi
for t in 1 2; do
	if [ -e "$dir/tunnel$t" ]; then
		$ip route replace %[4]s dev xfrm$t
		echo "cgwlab updown: $PLUTO_VERB $PLUTO_CONNECTION: %[4]s via xfrm$t"
		exit 0
	fi
done
$ip route replace blackhole %[4]s
echo "cgwlab updown: $PLUTO_VERB $PLUTO_CONNECTION: no tunnel up, %[4]s is a blackhole"
`, ip, awsUpdownDir, lock, OnPremNetwork, bgpRecordFile)
}

// writeAWSUpdown writes the updown script and an empty marker directory;
// l.mu is held or the lab is being built.
func (l *Lab) writeAWSUpdown() error {
	ip, err := exec.LookPath("ip")
	if err != nil {
		return fmt.Errorf("kernel mode: %w", err)
	}
	if ip, err = filepath.Abs(ip); err != nil {
		return fmt.Errorf("kernel mode: %w", err)
	}
	flock, _ := exec.LookPath("flock")
	if flock != "" {
		flock, _ = filepath.Abs(flock)
	}
	d := filepath.Join(l.dir, string(AWS))
	if err := os.RemoveAll(filepath.Join(d, awsUpdownDir)); err != nil {
		return fmt.Errorf("kernel mode: clearing the updown markers: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(d, awsUpdownDir), 0o700); err != nil {
		return fmt.Errorf("kernel mode: %w", err)
	}
	return writeFileAtomic(filepath.Join(d, awsUpdownFile), []byte(awsUpdownScript(ip, flock)), 0o700)
}

// awsUpdownCommand is the child's updown setting: charon runs it with
// /bin/sh -c, and /run may be mounted noexec, so bash is named.
func awsUpdownCommand() (string, error) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		return "", fmt.Errorf("kernel mode: the AWS side's updown script needs bash: %w", err)
	}
	bash, _ = filepath.Abs(bash)
	return bash + " /run/" + awsUpdownFile, nil
}

// awsLinks creates the AWS side's XFRM interfaces (one per tunnel, if_id =
// the tunnel number, the AWS inside address on it) and the blackhole for
// the customer network until a tunnel is up.
//
// Equivalent to: ip link add xfrm1 type xfrm dev wan0 if_id 1; ip addr add
// <aws inside>/30 dev xfrm1; ip link set xfrm1 up; …; ip route add
// blackhole 172.31.16.0/20.
func (l *Lab) awsLinks(ctx context.Context) error {
	var lines []string
	for _, t := range l.st.Tunnels {
		x := xfrmName(t.Number)
		lines = append(lines,
			fmt.Sprintf("link add %s type xfrm dev wan0 if_id %d", x, t.Number),
			fmt.Sprintf("addr add %s dev %s", t.AWSInside, x),
			fmt.Sprintf("link set %s up", x))
	}
	lines = append(lines, "route replace blackhole "+OnPremNetwork)
	if err := ipBatch(ctx, l.Namespace(AWS), lines...); err != nil {
		return fmt.Errorf("kernel mode: creating the AWS side's XFRM interfaces "+
			"(the kernel needs CONFIG_XFRM_INTERFACE and ESP; this one may lack them): %w", err)
	}
	return nil
}

// resetAWSRoute forgets the AWS side's tunnel markers and blackholes the
// customer network: after the aws charon restarts, none of its SAs exist.
// With BGP the route stays BGP's: it goes when the sessions' hold timers
// expire, as on AWS.
func (l *Lab) resetAWSRoute(ctx context.Context) error {
	d := filepath.Join(l.dir, string(AWS), awsUpdownDir)
	if err := os.RemoveAll(d); err != nil {
		return fmt.Errorf("clearing the updown markers: %w", err)
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	if l.BGP() {
		return nil
	}
	return ipBatch(ctx, l.Namespace(AWS), "route replace blackhole "+OnPremNetwork)
}

// The AWS side's fallback for the customer network in kernel mode with
// BGP: a blackhole in table awsFallbackTable, reached by two rules from
// priority awsFallbackPref on.
const (
	awsFallbackTable = 253 // "default": not the main table, so not zebra's
	awsFallbackPref  = 215 // before charon's 220
)

// awsFallbackLines are the `ip -batch` lines that replace awsLinks'
// blackhole in the main table with the fallback: the main table for the
// customer network unless all it has is the default route
// (suppress_prefixlength 0), then the blackhole in table 253. Equivalent
// to: ip route del 172.31.16.0/20; ip route add blackhole 172.31.16.0/20
// table 253; ip rule add to 172.31.16.0/20 lookup main
// suppress_prefixlength 0 priority 215; ip rule add to 172.31.16.0/20
// lookup 253 priority 216.
func awsFallbackLines() []string {
	return []string{
		"route del " + OnPremNetwork,
		fmt.Sprintf("route add blackhole %s table %d", OnPremNetwork, awsFallbackTable),
		fmt.Sprintf("rule add to %s lookup main suppress_prefixlength 0 priority %d", OnPremNetwork, awsFallbackPref),
		fmt.Sprintf("rule add to %s lookup %d priority %d", OnPremNetwork, awsFallbackTable, awsFallbackPref+1),
	}
}

// awsRoute returns the AWS side's route to the customer network (`ip -n
// <aws> route show 172.31.16.0/20`, one line), or why it could not be read.
// With BGP and no path it names the fallback.
func (l *Lab) awsRoute(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "ip", "-n", l.Namespace(AWS), "route", "show", OnPremNetwork).CombinedOutput()
	s := strings.Join(strings.Fields(string(out)), " ")
	if err != nil {
		return "unknown: " + err.Error() + ": " + s
	}
	if s == "" && l.BGP() {
		return fmt.Sprintf("blackhole %s table %d (no BGP path)", OnPremNetwork, awsFallbackTable)
	}
	return s
}

// plainLinks creates the plain initiator's XFRM interfaces in the cgw
// namespace and routes the VPC through tunnel 1's (the lowest-numbered):
// the kernel-mode stand-in for cgw's routes.Manager, without failover.
// With BGP the customer inside address and its /30 go on each interface,
// as cgw puts them on cgw-xfrmN, so a BGP speaker in the cgw namespace can
// reach the AWS side's bgpd through each tunnel.
func (l *Lab) plainLinks(ctx context.Context) error {
	if err := ipBatch(ctx, l.Namespace(CGW), plainLinkLines(l.st.Tunnels, l.BGP())...); err != nil {
		return fmt.Errorf("plain initiator: creating XFRM interfaces in %s: %w", l.Namespace(CGW), err)
	}
	return nil
}

// plainLinkLines are plainLinks' `ip -batch` lines. Equivalent to: ip
// link add plain-xfrm1 type xfrm dev wan0 if_id 1; [ip addr add <customer
// inside>/30 dev plain-xfrm1;] ip link set plain-xfrm1 up; …; ip route
// replace 10.10.100.0/24 dev plain-xfrm1.
func plainLinkLines(ts []tunnel, bgp bool) []string {
	var lines []string
	for _, t := range ts {
		x := plainXfrmName(t.Number)
		lines = append(lines, fmt.Sprintf("link add %s type xfrm dev wan0 if_id %d", x, t.Number))
		if bgp {
			lines = append(lines, fmt.Sprintf("addr add %s dev %s", t.CustomerInside, x))
		}
		lines = append(lines, fmt.Sprintf("link set %s up", x))
	}
	return append(lines, fmt.Sprintf("route replace %s dev %s", VPCNetwork, plainXfrmName(ts[0].Number)))
}

// removePlainLinks deletes the plain initiator's XFRM interfaces (their
// routes go with them); absent ones are fine.
func (l *Lab) removePlainLinks(ctx context.Context) error {
	var errs []string
	for _, t := range l.st.Tunnels {
		err := ipBatch(ctx, l.Namespace(CGW), "link del "+plainXfrmName(t.Number))
		if err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("plain initiator: removing XFRM interfaces: %s", strings.Join(errs, "; "))
	}
	return nil
}
