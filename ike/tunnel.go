package ike

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cgw-project/cgw/gateway/awsconf"
)

// NamePrefix starts the name of every connection, child and shared key cgw
// loads; cgw never touches anything else in charon.
const NamePrefix = "cgw-"

// AWS's defaults when the file gives no lifetime or DPD interval.
const (
	DefaultIKELifetime   = 28800 * time.Second
	DefaultChildLifetime = 3600 * time.Second
	DefaultDPDDelay      = 10 * time.Second
)

// A Tunnel is one AWS tunnel as cgw loads it into charon: one connection
// with one child, both named Name, authenticated with PSK.
//
// Fixed choices, the same for every tunnel (see Render for the full set):
//   - start_action = none: cgw initiates explicitly (AWS does only with
//     StartupAction start, see AWSInitiates; trap policies do not work
//     with kernel-libipsec);
//   - dpd_action = clear and close_action = none: charon drops a dead SA
//     and cgw's reconcile loop, which watches the SAs, initiates again, so
//     exactly one owner re-initiates and no duplicate SAs race;
//   - unique = replace: a new IKE_SA to the same AWS endpoint replaces the
//     old one, so a re-initiate never leaves two; except when AWS initiates
//     too (AWSInitiates), see there;
//   - mobike = no (AWS endpoints do not do MOBIKE) and encap = yes (always
//     NAT-T on UDP 4500: EC2 sits behind an Elastic IP NAT);
//   - keyingtries = 1: cgw retries itself.
type Tunnel struct {
	Name       string     // connection and child name, "cgw-tunnel1"
	Versions   []int      // [1], [2] or [1 2]; [1 2] (any) lets charon initiate IKEv2
	LocalAddr  netip.Addr // local outside address; invalid means %any
	RemoteAddr netip.Addr // the AWS endpoint
	LocalID    string     // our IKE identity: the customer's public address (behind NAT too)
	RemoteID   string     // the AWS endpoint's identity (its address)
	PSK        awsconf.PSK

	IKEProposals []string // strongSwan syntax, most preferred first
	ESPProposals []string

	// IKERekey and ChildRekey are the rekey_time values, IKELife and
	// ChildLife the hard lifetimes (AWS's; over_time and life_time), and
	// IKERand and ChildRand the jitter charon subtracts from the rekey
	// times (rand_time).
	IKERekey, IKELife     time.Duration
	ChildRekey, ChildLife time.Duration
	IKERand, ChildRand    time.Duration

	// ReplayWindow is the CHILD_SAs' replay window in packets (AWS's
	// ReplayWindowSize); 0 leaves charon's default.
	ReplayWindow uint32

	// AWSInitiates says that AWS initiates this tunnel too (StartupAction
	// start, IKEv2). cgw still initiates whatever is down, and charon
	// accepts AWS's IKE and CHILD SAs as responder. When both sides
	// initiate at once, two IKE_SAs come up: with unique = replace (or
	// keep, or the INITIAL_CONTACT that unique = no honours) each side
	// would delete the one the other keeps, and the tunnel flaps. So such
	// a tunnel has unique = never (charon deletes neither and sends no
	// INITIAL_CONTACT), AWS's own uniqueness policy acts first, and what
	// is left over is for cgw's reconcile loop to remove: it keeps the SA
	// AWS initiated (see Extras).
	AWSInitiates bool

	DPDDelay time.Duration
	// DPDTimeout is IKEv1's dpd_timeout (IKEv2 uses the retransmit
	// settings instead); rendered only when IKEv1 may be used.
	DPDTimeout time.Duration

	LocalTS, RemoteTS []netip.Prefix // nil means 0.0.0.0/0
	IfID              uint32         // kernel data plane: if_id_in/if_id_out; 0 with libipsec

	// Inside, when set, is a second child of the same connection for the
	// tunnel's BGP session (dynamic routing with the libipsec data plane).
	Inside *InsideChild
}

// An InsideChild is the CHILD_SA that carries one tunnel's BGP session:
// customer inside /32 === AWS inside /32, in the same IKE_SA as the data
// child and with the same proposals, lifetimes and actions. Its selectors
// differ from the data child's, so charon gives it a reqid of its own and
// the session of tunnel N stays in tunnel N's SA
// (notes/bgp-over-libipsec.md).
type InsideChild struct {
	Name          string       // child name, "cgw-tunnel1-bgp"
	Local, Remote netip.Prefix // customer and AWS inside addresses as /32s
}

// InsideSuffix ends the name of a tunnel's inside (BGP) child.
const InsideSuffix = "-bgp"

// Params are the gateway's settings that the AWS file does not hold.
type Params struct {
	Versions  []int      // overrides the file's IKE versions when set
	LocalAddr netip.Addr // local outside address; invalid means %any
	Identity  string     // our IKE identity; "" means the file's customer outside address
	LocalTS   []netip.Prefix
	RemoteTS  []netip.Prefix
	IfID      uint32
	// BGP adds the inside child (Tunnel.Inside) for the tunnel's BGP
	// session; the file must hold the inside addresses.
	BGP bool
}

// TunnelFromAWS builds the Tunnel cgw loads for one AWS tunnel.
//
// Proposals: with awsconf.ProfileTunnelOptions the file's algorithm sets
// are offered exactly; with awsconf.ProfileMinimum (the download shows only
// AWS's sample profile while AWS's default tunnel options allow far more)
// one proposal per encryption, strongest first, with every integrity and
// a strong DH list, plus everything the file names. IKEv1 only (Versions
// [1]) gets one proposal per combination instead, as strongSwan reads
// only the first algorithm of each kind in an IKEv1 proposal.
//
// Versions: Params, else the file's, else any ([1 2]; charon then
// initiates IKEv2). Lifetimes: AWS's (28800 s and 3600 s when absent) are
// the hard limits, and cgw rekeys before AWS would (see rekeyTimes). DPD:
// the file's interval, else 10 s; IKEv1's dpd_timeout is the file's
// timeout, else interval × retries (3 when absent).
//
// Errors name the tunnel and the field; they never hold the key.
func TunnelFromAWS(name string, t awsconf.Tunnel, profile awsconf.Profile, p Params) (Tunnel, error) {
	wrap := func(err error) (Tunnel, error) {
		return Tunnel{}, fmt.Errorf("tunnel %d (%s): %w", t.Number, name, err)
	}
	if err := checkName(name); err != nil {
		return wrap(err)
	}
	if !t.AWSOutside.IsValid() {
		return wrap(errors.New("aws_outside: missing"))
	}
	if t.PSK.IsZero() {
		return wrap(errors.New("psk: missing"))
	}
	out := Tunnel{
		Name:       name,
		LocalAddr:  p.LocalAddr,
		RemoteAddr: t.AWSOutside,
		LocalID:    p.Identity,
		RemoteID:   t.AWSOutside.String(),
		PSK:        t.PSK,
		LocalTS:    slices.Clone(p.LocalTS),
		RemoteTS:   slices.Clone(p.RemoteTS),
		IfID:       p.IfID,
		DPDDelay:   DefaultDPDDelay,
	}
	if out.LocalID == "" {
		if !t.CustomerOutside.IsValid() {
			return wrap(errors.New("identity: not set and the file has no customer_outside address"))
		}
		out.LocalID = t.CustomerOutside.String()
	}
	switch {
	case len(p.Versions) > 0:
		out.Versions = slices.Clone(p.Versions)
	case len(t.IKE.Versions) > 0:
		out.Versions = slices.Clone(t.IKE.Versions)
	default:
		out.Versions = []int{1, 2}
	}
	slices.Sort(out.Versions)
	out.Versions = slices.Compact(out.Versions)
	for _, v := range out.Versions {
		if v != 1 && v != 2 {
			return wrap(fmt.Errorf("ike versions: %d is not 1 or 2", v))
		}
	}

	if p.BGP {
		in, err := insideChild(name, t)
		if err != nil {
			return wrap(err)
		}
		out.Inside = in
	}

	if err := out.setProposals(t, profile); err != nil {
		return wrap(err)
	}

	ikeLife, childLife := DefaultIKELifetime, DefaultChildLifetime
	if t.IKE.LifetimeS > 0 {
		ikeLife = time.Duration(t.IKE.LifetimeS) * time.Second
	}
	if t.IPsec.LifetimeS > 0 {
		childLife = time.Duration(t.IPsec.LifetimeS) * time.Second
	}
	window := time.Duration(t.AWS.RekeyWindow()) * time.Second
	out.IKELife = ikeLife
	out.IKERekey, out.IKERand = rekeyTimes(ikeLife, window)
	out.ChildLife = childLife
	out.ChildRekey, out.ChildRand = rekeyTimes(childLife, window)
	out.ReplayWindow = uint32(t.AWS.ReplayWindow)
	out.AWSInitiates = t.AWS.StartupAction == awsconf.StartupStart
	if out.AWSInitiates && !slices.Contains(out.Versions, 2) {
		return wrap(errors.New("aws.startup_action: start (AWS initiates) needs IKEv2, and the tunnel uses IKEv1 only"))
	}

	retries := 3
	if t.DPD != nil && t.DPD.IntervalS > 0 {
		out.DPDDelay = time.Duration(t.DPD.IntervalS) * time.Second
	}
	if t.DPD != nil && t.DPD.Retries > 0 {
		retries = t.DPD.Retries
	}
	out.DPDTimeout = out.DPDDelay * time.Duration(retries)
	if t.DPD != nil && t.DPD.TimeoutS > 0 {
		out.DPDTimeout = time.Duration(t.DPD.TimeoutS) * time.Second
	}
	return out, nil
}

// insideChild is tunnel t's BGP child: customer inside /32 === AWS inside
// /32 (the BGP neighbour address when the file names one).
func insideChild(name string, t awsconf.Tunnel) (*InsideChild, error) {
	if !t.CustomerInside.IsValid() || !t.CustomerInside.Addr().Is4() {
		return nil, errors.New("customer_inside: missing, and BGP needs it")
	}
	remote := netip.Addr{}
	if t.BGP != nil {
		remote = t.BGP.Neighbor
	}
	if !remote.IsValid() && t.AWSInside.IsValid() {
		remote = t.AWSInside.Addr()
	}
	if !remote.IsValid() || !remote.Is4() {
		return nil, errors.New("aws_inside: missing, and BGP needs it")
	}
	local := t.CustomerInside.Addr()
	if local == remote {
		return nil, fmt.Errorf("customer_inside and aws_inside are both %v", local)
	}
	return &InsideChild{
		Name:   name + InsideSuffix,
		Local:  netip.PrefixFrom(local, 32),
		Remote: netip.PrefixFrom(remote, 32),
	}, nil
}

// setProposals maps the file's algorithm sets to strongSwan proposals for
// the tunnel's IKE versions (out.Versions must be set).
func (out *Tunnel) setProposals(t awsconf.Tunnel, profile awsconf.Profile) error {
	v1 := len(out.Versions) == 1 && out.Versions[0] == 1
	ikeFile := algSets{enc: t.IKE.Encryption, integ: t.IKE.Integrity, dh: t.IKE.DHGroups}
	espFile := algSets{enc: t.IPsec.Encryption, integ: t.IPsec.Integrity, dh: t.IPsec.PFSGroups}
	def := algSets{enc: awsconf.Encryptions, integ: awsconf.Integrities, dh: defaultDH}
	if v1 {
		def = algSets{enc: v1DefaultEnc, integ: v1DefaultInteg, dh: v1DefaultDH}
	}
	ike, err := chooseSets(profile, ikeFile, def, awsconf.Phase1DHGroups, false)
	if err != nil {
		return fmt.Errorf("ike: %w", err)
	}
	// IKEv1 with the sample profile: the file's PFS group goes first, as
	// Quick Mode's one KE is for the first group (see espV1Proposals).
	esp, err := chooseSets(profile, espFile, def, awsconf.Phase2DHGroups, v1 && profile != awsconf.ProfileTunnelOptions)
	if err != nil {
		return fmt.Errorf("ipsec: %w", err)
	}
	if v1 {
		if out.IKEProposals, err = ikeV1Proposals(ike); err != nil {
			return fmt.Errorf("ike: %w", err)
		}
		out.ESPProposals = espV1Proposals(esp)
		return nil
	}
	out.IKEProposals = ikeProposals(ike)
	out.ESPProposals = espProposals(esp)
	return nil
}

// awsRekeyWindow is how early AWS starts its own rekey at the latest with
// its defaults: margin 270 s plus 100 % fuzz (awsconf.AWSOptions.RekeyWindow).
const awsRekeyWindow = 540 * time.Second

// rekeyTimes returns rekey_time and rand_time for an SA whose hard
// lifetime (AWS's) is life, so that cgw's rekey always comes before AWS's:
// AWS rekeys at a random moment in the last window (its rekey margin plus
// fuzz) of the lifetime, so cgw's margin is that window plus a tenth of
// it (at least 5 s), or 10 % of the lifetime when that is more. charon
// subtracts up to a third of the margin (at most a third of rekey_time)
// as jitter, which only makes cgw earlier. A margin over three quarters
// of the lifetime is cut there (cgw then rekeys at a quarter of it and
// may meet AWS's rekey; awsconf warns of such a window). 3600 s with
// AWS's defaults gives 3006 s − [0, 198 s]; 28800 s gives 25920 s −
// [0, 960 s]; 900 s gives 306 s − [0, 102 s].
func rekeyTimes(life, awsWindow time.Duration) (rekey, rand time.Duration) {
	slack := max(awsWindow/10, 5*time.Second)
	margin := max(life/10, awsWindow+slack)
	margin = min(margin, life*3/4)
	rekey = (life - margin).Truncate(time.Second)
	return rekey, min(margin/3, rekey/3).Truncate(time.Second)
}

// checkName enforces the NamePrefix convention and a charon-safe name.
func checkName(name string) error {
	if !strings.HasPrefix(name, NamePrefix) || len(name) == len(NamePrefix) {
		return fmt.Errorf("name %q: must start with %q", name, NamePrefix)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("name %q: only letters, digits, '-', '_' and '.' are allowed", name)
		}
	}
	return nil
}

// validate checks what charon needs before Load sends anything.
func (t Tunnel) validate() error {
	if err := checkName(t.Name); err != nil {
		return err
	}
	switch {
	case !t.RemoteAddr.IsValid():
		return errors.New("remote address: missing")
	case t.LocalID == "" || t.RemoteID == "":
		return errors.New("identities: missing")
	case t.PSK.IsZero():
		return errors.New("psk: missing")
	case len(t.IKEProposals) == 0 || len(t.ESPProposals) == 0:
		return errors.New("proposals: missing")
	}
	if in := t.Inside; in != nil {
		if err := checkName(in.Name); err != nil {
			return fmt.Errorf("inside child: %w", err)
		}
		switch {
		case in.Name == t.Name:
			return fmt.Errorf("inside child: name %q is the data child's", in.Name)
		case !in.Local.IsValid() || !in.Remote.IsValid():
			return errors.New("inside child: local and remote inside prefixes: missing")
		}
	}
	return nil
}

// version is the swanctl "version" value: 0 (any) unless exactly one.
func (t Tunnel) version() int {
	if len(t.Versions) == 1 {
		return t.Versions[0]
	}
	return 0
}
