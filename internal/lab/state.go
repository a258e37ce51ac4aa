package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// state is what a lab records in <dir>/state.json (mode 0600: it holds the
// pre-shared keys, which Status never returns).
type state struct {
	Name              string       `json:"name"`
	Dir               string       `json:"dir"`
	Created           time.Time    `json:"created"`
	IKEVersion        int          `json:"ike_version"`
	Proposals         []string     `json:"proposals"`
	ESPProposals      []string     `json:"esp_proposals"`
	CGWInstallRoutes  bool         `json:"cgw_install_routes"`
	Dataplane         string       `json:"dataplane,omitempty"` // "" (older state files) is libipsec
	VPNConnectionID   string       `json:"vpn_connection_id"`
	VPNGatewayID      string       `json:"vpn_gateway_id"`
	CustomerGatewayID string       `json:"customer_gateway_id"`
	Tunnels           []tunnel     `json:"tunnels"`
	PIDs              map[Host]int `json:"pids"`
	Faults            []string     `json:"faults"`
	Plain             bool         `json:"plain_initiator_loaded"`
	// AWSSide is AWSFaithful or AWSNewestSA ("" in kernel mode and in
	// state files older than the faithful side: one aws charon).
	AWSSide   string `json:"aws_side,omitempty"`
	AWSPrefer int    `json:"aws_prefer,omitempty"` // the static return path's preferred tunnel
	// WatcherPID and WatcherExe are the detached return-path watcher
	// (Options.WatcherCommand), 0 and "" when the watcher is in-process.
	WatcherPID int    `json:"watcher_pid,omitempty"`
	WatcherExe string `json:"watcher_exe,omitempty"`

	// Several connections (connections.go): Connections is their number
	// (0 in older state files: 1), TGW says they attach to one transit
	// gateway (TransitGatewayID), Extra holds the IDs of connections 2 on.
	Connections      int        `json:"connections,omitempty"`
	TGW              bool       `json:"tgw,omitempty"`
	TransitGatewayID string     `json:"transit_gateway_id,omitempty"`
	Extra            []connInfo `json:"extra_connections,omitempty"`
	// TunnelOptions are the AWS side's tunnel options (Options).
	TunnelOptions TunnelOptions `json:"tunnel_options"`
}

// faithful reports whether the AWS side is AWSFaithful.
func (st *state) faithful() bool { return st.AWSSide == AWSFaithful }

// hosts returns the lab's hosts in topology order.
func (st *state) hosts() []Host {
	if st.faithful() {
		return append(append([]Host{VPC, VGW, AWS1, AWS2}, st.connHosts()...), Inet, NAT, CGW, OnPrem)
	}
	return []Host{VPC, AWS, Inet, NAT, CGW, OnPrem}
}

// endpoint returns tunnel n's AWS endpoint host.
func (st *state) endpoint(n int) Host {
	if !st.faithful() {
		return AWS
	}
	if n < 1 || n > 2*MaxConnections {
		return AWS1
	}
	return endpointOf(n)
}

// awsHosts returns the hosts of the AWS side's charons.
func (st *state) awsHosts() []Host {
	if !st.faithful() {
		return []Host{AWS}
	}
	var hs []Host
	for _, t := range st.Tunnels {
		hs = append(hs, st.endpoint(t.Number))
	}
	return hs
}

// charonHosts returns the hosts of all the lab's charons.
func (st *state) charonHosts() []Host { return append(st.awsHosts(), CGW) }

// prefer returns the static return path's preferred tunnel.
func (st *state) prefer() int {
	if st.AWSPrefer == 2 && len(st.Tunnels) == 2 {
		return 2
	}
	return 1
}

// dataplane returns the lab's data plane; state files written before
// kernel mode existed have none and are libipsec.
func (st *state) dataplane() string {
	if st.Dataplane == "" {
		return DataplaneLibIPsec
	}
	return st.Dataplane
}

// kernel reports whether the lab runs the kernel data plane.
func (st *state) kernel() bool { return st.dataplane() == DataplaneKernel }

// tunnel is one simulated AWS tunnel.
type tunnel struct {
	Number         int    `json:"number"`
	AWSOutside     string `json:"aws_outside"`
	AWSInside      string `json:"aws_inside"`      // a.b.c.d/30 (network+1)
	CustomerInside string `json:"customer_inside"` // a.b.c.d/30 (network+2)
	PSK            string `json:"psk"`
	// Connection is the VPN connection the tunnel belongs to; 0 (older
	// state files, and connection 1) is 1. Tunnel numbers run on across
	// connections: connection 2 has tunnels 3 and 4.
	Connection int `json:"connection,omitempty"`
}

// name is the connection and child name of the tunnel on both charons.
func (t tunnel) name() string { return fmt.Sprintf("tunnel%d", t.Number) }

func stateFile(dir string) string { return filepath.Join(dir, "state.json") }

func readState(dir string) (state, error) {
	var st state
	b, err := os.ReadFile(stateFile(dir))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("reading lab state %s: %w", stateFile(dir), err)
	}
	return st, nil
}

// save writes the state atomically; l.mu must be held.
func (l *Lab) save() error {
	b, err := json.MarshalIndent(l.st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding lab state: %w", err)
	}
	return writeFileAtomic(stateFile(l.dir), append(b, '\n'), 0o600)
}

func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// Open attaches to a running lab through its state file. dir "" means the
// default (/run/cgwlab/<name>); name "" means "cgwlab". It returns an error
// wrapping ErrNotUp when there is no such lab.
func Open(name, dir string) (*Lab, error) {
	name, dir, err := resolve(name, dir)
	if err != nil {
		return nil, err
	}
	st, err := readState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("lab %q (state %s): %w; start it with `cgwlab up`", name, dir, ErrNotUp)
	}
	if err != nil {
		return nil, err
	}
	if st.Name != name {
		return nil, fmt.Errorf("state file %s belongs to lab %q, not %q", stateFile(dir), st.Name, name)
	}
	return &Lab{name: name, dir: dir, st: st, procs: map[Host]*charonProc{}}, nil
}

func (l *Lab) faultOn(name string) bool { return slices.Contains(l.st.Faults, name) }

func (l *Lab) setFault(name string, on bool) {
	l.st.Faults = slices.DeleteFunc(l.st.Faults, func(s string) bool { return s == name })
	if on {
		l.st.Faults = append(l.st.Faults, name)
		slices.Sort(l.st.Faults)
	}
}
