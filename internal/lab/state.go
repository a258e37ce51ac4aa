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
