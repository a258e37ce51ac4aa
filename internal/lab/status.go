package lab

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/strongswan/govici/vici"
)

// Status is what `cgwlab status` shows. It never holds a pre-shared key.
type Status struct {
	Name       string `json:"name"`
	Dir        string `json:"dir"`
	IKEVersion int    `json:"ike_version"`
	Dataplane  string `json:"dataplane"` // libipsec or kernel
	// AWSRoute is, in kernel mode, the AWS side's route to the customer
	// network as `ip route` shows it ("172.31.16.0/20 dev xfrm1" or
	// "blackhole 172.31.16.0/20"), "" in libipsec mode.
	AWSRoute string `json:"aws_route,omitempty"`
	// AWSSide is AWSFaithful or AWSNewestSA ("" in kernel mode).
	AWSSide string `json:"aws_side,omitempty"`
	// ReturnPath is the tunnel the AWS side sends traffic for the
	// customer network over, and why.
	ReturnPath *ReturnPath `json:"return_path,omitempty"`
	// ReturnPaths are, with a gateway per connection (Options.Connections
	// 2 without TGW), each gateway's return path, vgw's (ReturnPath)
	// first.
	ReturnPaths []ReturnPath `json:"return_paths,omitempty"`
	// Connections is the number of VPN connections; TGW says they attach
	// to one transit gateway.
	Connections int  `json:"connections"`
	TGW         bool `json:"tgw,omitempty"`
	// WatcherPID is the detached return-path watcher (cgwlab vgw-watch),
	// 0 when the watcher runs in the process that brought the lab up.
	WatcherPID int               `json:"watcher_pid,omitempty"`
	Namespaces []NamespaceStatus `json:"namespaces"`
	Charons    []CharonStatus    `json:"charons"`
	Tunnels    []TunnelStatus    `json:"tunnels"`
	Faults     []string          `json:"faults"`
	// PlainInitiator is true while PlainInitiate's connections are loaded.
	PlainInitiator bool  `json:"plain_initiator"`
	Files          Files `json:"files"`
	// ConnectionFiles are the download files of connections 2 and on
	// (Config empty: cgw.yaml is Files.Config).
	ConnectionFiles []Files `json:"connection_files,omitempty"`
}

// NamespaceStatus says whether one host's namespace exists.
type NamespaceStatus struct {
	Host      Host   `json:"host"`
	Namespace string `json:"namespace"`
	Exists    bool   `json:"exists"`
}

// CharonStatus describes one charon.
type CharonStatus struct {
	Host  Host   `json:"host"`
	PID   int    `json:"pid"`
	Alive bool   `json:"alive"`
	VICI  string `json:"vici_socket"`
	Log   string `json:"log"`
}

// TunnelStatus is one AWS tunnel as the AWS side sees it (VICI list-sas).
type TunnelStatus struct {
	Number int `json:"number"`
	// Connection is the VPN connection it belongs to, ConnTunnel its
	// number there (tunnel 3 is connection 2's tunnel 1).
	Connection     int    `json:"connection"`
	ConnTunnel     int    `json:"connection_tunnel"`
	AWSOutside     string `json:"aws_outside"`
	AWSInside      string `json:"aws_inside"`
	CustomerInside string `json:"customer_inside"`
	// IKESAs counts the tunnel's IKE_SAs in state ESTABLISHED, ChildSAs
	// its CHILD_SAs in state INSTALLED.
	IKESAs   int `json:"ike_sas"`
	ChildSAs int `json:"child_sas"`
	// RemoteHost is the address the customer gateway's packets come from
	// ("" when no IKE_SA), normally the Elastic IP.
	RemoteHost string `json:"remote_host,omitempty"`
	// Error says why the AWS side could not be asked.
	Error string `json:"error,omitempty"`
}

// Files are the paths of the files Up wrote.
type Files struct {
	Generic string `json:"generic"`
	XML     string `json:"xml"`
	Config  string `json:"config"`
	JSON    string `json:"json"` // describe-vpn-connections, with the tunnel options
}

// Status reports the lab's namespaces, charons, AWS-side SAs and faults.
func (l *Lab) Status(ctx context.Context) (Status, error) {
	l.mu.Lock()
	st := l.st
	st.Faults = slices.Clone(l.st.Faults)
	st.PIDs = maps.Clone(l.st.PIDs)
	l.mu.Unlock()
	s := Status{Name: l.name, Dir: l.dir, IKEVersion: st.IKEVersion, Dataplane: st.dataplane(),
		Faults: st.Faults, PlainInitiator: st.Plain,
		Files: Files{Generic: l.GenericFile(), XML: l.XMLFile(), Config: l.ConfigFile(), JSON: l.JSONFile()}}
	if s.Faults == nil {
		s.Faults = []string{}
	}
	s.AWSSide, s.WatcherPID = st.AWSSide, st.WatcherPID
	s.Connections, s.TGW = st.connections(), st.TGW
	for c := 2; c <= st.connections(); c++ {
		s.ConnectionFiles = append(s.ConnectionFiles, Files{Generic: l.ConnGenericFile(c), XML: l.ConnXMLFile(c)})
	}
	for _, h := range st.hosts() {
		_, err := os.Stat(nsPath(l.Namespace(h)))
		s.Namespaces = append(s.Namespaces, NamespaceStatus{Host: h, Namespace: l.Namespace(h), Exists: err == nil})
	}
	for _, h := range st.charonHosts() {
		pid := st.PIDs[h]
		s.Charons = append(s.Charons, CharonStatus{Host: h, PID: pid, Alive: isCharon(pid),
			VICI: l.VICISocket(h), Log: l.CharonLog(h)})
	}
	switch {
	case st.kernel():
		s.AWSRoute = l.awsRoute(ctx)
		s.ReturnPath = &ReturnPath{Route: s.AWSRoute, Why: "kernel mode: the updown script (static) or zebra (BGP) in the aws host"}
		for _, t := range st.Tunnels {
			if strings.Contains(" "+s.AWSRoute+" ", " dev "+xfrmName(t.Number)+" ") {
				if s.ReturnPath.Tunnel == 0 {
					s.ReturnPath.Tunnel = t.Number
				}
				s.ReturnPath.Tunnels = append(s.ReturnPath.Tunnels, t.Number) // several: ECMP (tgw.go)
			}
		}
	case st.faithful():
		s.ReturnPath = l.faithfulReturnPath(ctx, VGW)
		if len(st.gateways()) > 1 {
			s.ReturnPaths = []ReturnPath{*s.ReturnPath}
			for _, gw := range st.gateways()[1:] {
				s.ReturnPaths = append(s.ReturnPaths, *l.faithfulReturnPath(ctx, gw))
			}
		}
	default:
		s.ReturnPath = &ReturnPath{Why: "newest SA: the aws charon's libipsec answers on its newest CHILD_SA, whichever tunnel that is"}
	}
	sasOf := map[Host][]ikeSA{}
	errOf := map[Host]error{}
	for _, h := range st.awsHosts() {
		sasOf[h], errOf[h] = listSAs(ctx, l.VICISocket(h))
	}
	for _, t := range st.Tunnels {
		ts := TunnelStatus{Number: t.Number, Connection: t.conn(), ConnTunnel: t.Number - GlobalTunnel(t.conn(), 0), AWSOutside: t.AWSOutside, AWSInside: t.AWSInside, CustomerInside: t.CustomerInside}
		h := st.endpoint(t.Number)
		sas, err := sasOf[h], errOf[h]
		if err != nil {
			ts.Error = err.Error()
		}
		for _, sa := range sas {
			if sa.name != t.name() {
				continue
			}
			if sa.state == "ESTABLISHED" {
				ts.IKESAs++
				ts.RemoteHost = sa.remoteHost
			}
			ts.ChildSAs += sa.installed
		}
		s.Tunnels = append(s.Tunnels, ts)
	}
	return s, nil
}

// ikeSA is the part of a list-sas entry the lab reads.
type ikeSA struct {
	name, state, remoteHost string
	installed               int // CHILD_SAs in state INSTALLED
}

// listSAs asks the charon at socket for its IKE_SAs.
func listSAs(ctx context.Context, socket string) ([]ikeSA, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := dialVICI(ctx, socket)
	if err != nil {
		return nil, fmt.Errorf("list-sas: %w", err)
	}
	defer s.Close()
	// Not CallStreaming: govici v0.8.0's stream selects between the event
	// and the response channels at random, so events that arrive just
	// before the response are lost (seen: one of two IKE_SAs missing).
	// Registering the event and making a plain call keeps the order: the
	// listener hands every event to ch before it hands over the response.
	ch := make(chan vici.Event, 1024)
	s.NotifyEvents(ch)
	if err := s.Subscribe("list-sa"); err != nil {
		return nil, fmt.Errorf("list-sas: %w", err)
	}
	if _, err := s.Call(ctx, "list-sas", nil); err != nil {
		return nil, fmt.Errorf("list-sas: %w", err)
	}
	var out []ikeSA
	for {
		var m *vici.Message
		select {
		case ev := <-ch:
			m = ev.Message
		default:
			return out, nil
		}
		if m == nil {
			// govici hands the listener's errors over as events without a
			// message (seen once under load: a nil dereference here); the
			// daemon's ike client skips them the same way.
			continue
		}
		for _, name := range m.Keys() {
			ike, ok := m.Get(name).(*vici.Message)
			if !ok {
				continue
			}
			sa := ikeSA{name: name, state: str(ike.Get("state")), remoteHost: str(ike.Get("remote-host"))}
			if children, ok := ike.Get("child-sas").(*vici.Message); ok {
				for _, k := range children.Keys() {
					if c, ok := children.Get(k).(*vici.Message); ok && str(c.Get("state")) == "INSTALLED" {
						sa.installed++
					}
				}
			}
			out = append(out, sa)
		}
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
