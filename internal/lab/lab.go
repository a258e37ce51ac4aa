package lab

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
)

// A Host is one of the lab's network namespaces.
type Host string

// The lab's hosts, from the VPC to the customer's site.
const (
	VPC    Host = "vpc"    // the EC2 instance in the VPC
	AWS    Host = "aws"    // the AWS VPN endpoints, one charon (AWSNewestSA and kernel mode)
	VGW    Host = "vgw"    // the virtual private gateway's router (AWSFaithful)
	AWS1   Host = "aws1"   // tunnel 1's AWS endpoint, its own charon (AWSFaithful)
	AWS2   Host = "aws2"   // tunnel 2's AWS endpoint, its own charon (AWSFaithful)
	Inet   Host = "inet"   // the internet between AWS and the customer
	NAT    Host = "nat"    // the customer's NAT device holding the Elastic IP
	CGW    Host = "cgw"    // the customer gateway (where cgw runs)
	OnPrem Host = "onprem" // a host on the customer's network
)

// AllHosts returns every host a lab may have, in topology order: a lab
// has either VGW, AWS1 and AWS2 (AWSFaithful) or AWS (AWSNewestSA, kernel
// mode). Lab.Hosts returns one lab's.
func AllHosts() []Host {
	hs := []Host{VPC, VGW, AWS1, AWS2}
	for c := 2; c <= MaxConnections; c++ {
		hs = append(hs, vpcOf(c), vgwOf(c), endpointOf(GlobalTunnel(c, 1)), endpointOf(GlobalTunnel(c, 2)))
	}
	return append(hs, AWS, Inet, NAT, CGW, OnPrem)
}

// Hosts returns the lab's own hosts in topology order.
func (l *Lab) Hosts() []Host { return l.st.hosts() }

// charonHost reports whether h is a host a lab may run charon in.
func charonHost(h Host) bool { return h == AWS || h == CGW || endpointHost(h) }

// Addresses of the lab, as strings so they can go straight to ping and
// flags. Parse them with netip.MustParseAddr where a netip.Addr is wanted.
const (
	VPCHost        = "10.10.100.110"  // the VPC host (monitor target)
	OnPremHost     = "172.31.16.103"  // the host behind the gateway
	ElasticIP      = "198.51.100.50"  // the customer gateway's public address
	AltElasticIP   = "198.51.100.51"  // the NAT's public address while the nat-mapping fault is on
	CGWOutside     = "192.168.0.10"   // the gateway's outside (private) address
	CGWInside      = "172.31.16.1"    // the gateway's inside address
	Tunnel1Outside = "203.0.113.10"   // AWS endpoint of tunnel 1
	Tunnel2Outside = "203.0.113.20"   // AWS endpoint of tunnel 2
	VPCNetwork     = "10.10.100.0/24" // the VPC CIDR (remote network for cgw)
	OnPremNetwork  = "172.31.16.0/20" // the customer's network (local network for cgw)
)

// DefaultName is the lab name used when Options.Name is empty.
const DefaultName = "cgwlab"

// DefaultBaseDir holds the state directories of labs whose Dir is empty.
const DefaultBaseDir = "/run/cgwlab"

// Options configure Up. The zero value builds the default lab.
type Options struct {
	// Name prefixes the namespaces ("<Name>-vpc", …); default "cgwlab".
	// Lowercase letters, digits and '-', at most 20 characters.
	Name string
	// Dir is the state directory; default /run/cgwlab/<Name>.
	Dir string
	// IKEv1 makes the AWS side speak IKEv1 (Main Mode) only; by default
	// it speaks IKEv2 only. (AWS's own default accepts both; the lab picks
	// one so a test knows what it exercises.)
	IKEv1 bool
	// Proposals and ESPProposals are the AWS side's IKE and ESP proposals
	// in strongSwan syntax; default: AWS's whole allowed set.
	Proposals, ESPProposals []string
	// Tunnels is 1 or 2 (default 2).
	Tunnels int
	// CGWInstallRoutes sets install_routes for the cgw-side charon;
	// default true. Note: kernel-libipsec (5.9.8) installs its table-220
	// route whatever this says (observed), so with the lab's data plane
	// the setting only matters to code that reads strongswan.conf.
	CGWInstallRoutes *bool
	// Dataplane is DataplaneLibIPsec (default, "") or DataplaneKernel.
	// Kernel mode needs a kernel with ESP and XFRM interfaces (a Debian
	// kernel does; this project's build machine does not, see
	// internal/vmtest): both charons use kernel-netlink as the IPsec
	// backend, the AWS side is route-based like real AWS (one XFRM
	// interface per tunnel) and the cgw-side charon has install_routes = no.
	Dataplane string
	// BGP adds the AWS side's BGP: FRR bgpd in the aws namespace (AS
	// 64512, hold 30 s) peering with the customer inside addresses and
	// announcing the VPC CIDR, and the download files in their BGP form
	// (customer ASN 65000). With libipsec each session needs an inside
	// CHILD_SA of its own; in kernel mode it crosses the tunnel's XFRM
	// interface, zebra installs bgpd's best path as the AWS side's route
	// back, and cgw.yaml leaves remote_networks to BGP. See bgp.go and
	// kernel.go.
	BGP bool
	// AWSSide is how the libipsec lab's AWS side chooses its return
	// path: AWSFaithful (default, "") like AWS, each endpoint in its own
	// namespace with its own charon behind a vgw router; or AWSNewestSA,
	// the older single charon whose libipsec answers on the newest
	// CHILD_SA (so the return path follows the customer's failover). Kernel
	// mode has its own route-based side and takes "" only.
	AWSSide string
	// AWSPrefer is the tunnel (1, default, or 2) the faithful side's
	// static return path prefers while its endpoint has an SA.
	AWSPrefer int
	// WatcherCommand, when set, is the argv of a process that runs the
	// faithful side's static return-path watcher (RunVGWWatcher) and
	// outlives the caller: `cgwlab up` passes its own `cgwlab vgw-watch`.
	// Up starts it detached and records it; Down stops it. By default
	// the watcher is a goroutine of the Lab, stopped by Close.
	WatcherCommand []string
	// Connections is the number of VPN connections, 1 (default) to
	// MaxConnections (MaxKernelConnections in kernel mode); connection c
	// has tunnels 2c-1 and 2c (endpoints aws<2c-1>, aws<2c>): connection 2
	// tunnels 3 and 4. Without TGW each ends on a virtual private gateway
	// with a VPC of its own (vgw2, vpc2, 10.20.100.0/24; vgw3, vpc3,
	// 10.30.100.0/24; …). See connections.go.
	Connections int
	// TGW attaches every connection to one transit gateway (needs BGP):
	// one AWS ASN, one VPC, and ECMP over the tunnels whose paths are
	// equal (vgw's bgpd has maximum-paths 2*MaxConnections, one per
	// tunnel it can have). See tgw.go.
	TGW bool
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)

	// TunnelOptions are the AWS side's tunnel options (StartupAction,
	// lifetimes, rekey margin and fuzz); the zero value is AWS's
	// defaults. Set, they are also written as the describe-vpn-connections
	// download that cgw.yaml names (see tunnelopts.go).
	TunnelOptions TunnelOptions
}

// The data planes Options.Dataplane accepts.
const (
	// DataplaneLibIPsec: charon's userspace ESP (kernel-libipsec, TUN
	// device ipsec0) on both sides, policy-based; for kernels without ESP.
	DataplaneLibIPsec = "libipsec"
	// DataplaneKernel: the kernel's ESP with XFRM interfaces, if_id = the
	// tunnel number on the AWS side's CHILD_SAs.
	DataplaneKernel = "kernel"
)

// The AWS sides Options.AWSSide accepts.
const (
	// AWSFaithful chooses the return path like AWS: static routing over
	// the preferred tunnel while its endpoint has an SA, BGP over the
	// best path (see vgw.go).
	AWSFaithful = "faithful"
	// AWSNewestSA is one charon for both endpoints: libipsec sends the
	// return traffic over the newest CHILD_SA. Only for tests that need
	// the return path to follow the customer at once.
	AWSNewestSA = "newest-sa"
)

// checkAWSSide normalises Options.AWSSide for data plane dp.
func checkAWSSide(side, dp string) (string, error) {
	if dp == DataplaneKernel {
		if side != "" {
			return "", fmt.Errorf("aws side %q: kernel mode has its own route-based AWS side; leave it empty", side)
		}
		return "", nil
	}
	switch side {
	case "", AWSFaithful:
		return AWSFaithful, nil
	case AWSNewestSA:
		return AWSNewestSA, nil
	}
	return "", fmt.Errorf("aws side %q: want %q or %q", side, AWSFaithful, AWSNewestSA)
}

// checkDataplane normalises and checks Options.Dataplane.
func checkDataplane(d string) (string, error) {
	switch d {
	case "", DataplaneLibIPsec:
		return DataplaneLibIPsec, nil
	case DataplaneKernel:
		return DataplaneKernel, nil
	}
	return "", fmt.Errorf("dataplane %q: want %q or %q", d, DataplaneLibIPsec, DataplaneKernel)
}

// A Lab is a running lab. Its methods are safe for concurrent use.
type Lab struct {
	name, dir string
	logf      func(format string, args ...any)

	mu    sync.Mutex
	st    state
	procs map[Host]*charonProc // charons this process started (reaped here)

	watchMu   sync.Mutex
	watchStop context.CancelFunc // the in-process watcher, nil when none
	watchDone chan struct{}
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,19}$`)

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("lab name %q: want 1-20 lowercase letters, digits or '-', starting with a letter", name)
	}
	return nil
}

// resolve fills in the default name and directory.
func resolve(name, dir string) (string, string, error) {
	if name == "" {
		name = DefaultName
	}
	if err := checkName(name); err != nil {
		return "", "", err
	}
	if dir == "" {
		dir = filepath.Join(DefaultBaseDir, name)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", fmt.Errorf("state directory %q: %w", dir, err)
	}
	return name, abs, nil
}

// Name returns the lab's name.
func (l *Lab) Name() string { return l.name }

// Namespace returns the name of host h's network namespace.
func (l *Lab) Namespace(h Host) string { return namespace(l.name, h) }

func namespace(name string, h Host) string { return name + "-" + string(h) }

// Command returns a command that runs name with args in host h's network
// namespace (`ip netns exec <ns> name args…`).
func (l *Lab) Command(ctx context.Context, h Host, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.Namespace(h), name}, args...)...)
}

// Dataplane returns DataplaneLibIPsec or DataplaneKernel.
func (l *Lab) Dataplane() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st.dataplane()
}

// AWSSide returns AWSFaithful or AWSNewestSA, "" in kernel mode.
func (l *Lab) AWSSide() string { return l.st.AWSSide }

// Endpoint returns the host of tunnel n's AWS endpoint: AWS1 or AWS2 on
// the faithful side, AWS otherwise.
func (l *Lab) Endpoint(n int) Host { return l.st.endpoint(n) }

// CharonHosts returns the hosts whose charons the lab runs, AWS side first.
func (l *Lab) CharonHosts() []Host { return l.st.charonHosts() }

// Dir returns the lab's state directory.
func (l *Lab) Dir() string { return l.dir }

// VICISocket returns the host path of the VICI socket of the charon in h
// (AWS, AWS1, AWS2 or CGW), or "" for a host without charon. Endpoint
// gives tunnel n's host.
func (l *Lab) VICISocket(h Host) string {
	if !charonHost(h) {
		return ""
	}
	return filepath.Join(l.dir, string(h), "charon.vici")
}

// CharonLog returns the host path of the log of the charon in h (AWS,
// AWS1, AWS2 or CGW).
func (l *Lab) CharonLog(h Host) string {
	if !charonHost(h) {
		return ""
	}
	return filepath.Join(l.dir, string(h), "charon.log")
}

// GenericFile returns the path of the Generic (vendor-agnostic) download.
func (l *Lab) GenericFile() string { return filepath.Join(l.dir, "generic.txt") }

// XMLFile returns the path of the native XML download.
func (l *Lab) XMLFile() string { return filepath.Join(l.dir, "vpn-connection.xml") }

// ConfigFile returns the path of the cgw.yaml written for the lab.
func (l *Lab) ConfigFile() string { return filepath.Join(l.dir, "cgw.yaml") }

// StatusSocket returns the status socket path cgw.yaml names.
func (l *Lab) StatusSocket() string { return filepath.Join(l.dir, "cgw.sock") }

// Close stops the Lab's own return-path watcher and tears the lab down,
// like Down; safe to call twice.
func (l *Lab) Close() error {
	l.stopWatcher()
	return Down(l.name, l.dir)
}

// ErrNotUp is returned by Open when no lab of that name is up.
var ErrNotUp = errors.New("lab is not up")

func (l *Lab) log(format string, args ...any) {
	if l.logf != nil {
		l.logf(format, args...)
	}
}
