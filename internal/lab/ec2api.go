package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cgw-project/cgw/internal/ec2test"
	"github.com/cgw-project/cgw/internal/netnsrun"
)

// The lab's fake EC2 API: an ec2test server listening on 127.0.0.1 in the
// gateway's namespace (where `cgw diagnose --aws` runs), holding the lab's
// VPN connection and a VPC shaped like the lab's (the VPC host's ENI,
// subnet, route table, security group, network ACL), whose resources
// follow the lab's faults as AWS would show them (ec2test LabFault).
// Clients find it through EC2APIEnvFile.
const (
	// EC2APIRegion is the region the fake answers for.
	EC2APIRegion = "eu-west-1"
	// The fake's keys: AWS's documented example key pair, accepted like
	// any other (the fake checks that requests are signed, not by whom).
	ec2APIAccessKey = "AKIAIOSFODNN7EXAMPLE"
	ec2APISecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func ec2APIDir(dir string) string     { return filepath.Join(dir, "ec2api") }
func ec2APIEnvFile(dir string) string { return filepath.Join(ec2APIDir(dir), "env") }
func ec2APIPIDFile(dir string) string { return filepath.Join(ec2APIDir(dir), "pid.json") }
func ec2APILog(dir string) string     { return filepath.Join(ec2APIDir(dir), "log") }

// EC2APIEnvFile returns the file that points the AWS SDK's standard chain
// at the lab's fake EC2 API while it runs (StartEC2API, `cgwlab ec2-api`):
// KEY=VALUE lines (AWS_ENDPOINT_URL_EC2, instance metadata off, fake
// keys, AWS_REGION, empty shared config files), for `set -a; .
// FILE`, `env $(cat FILE)` or systemd's EnvironmentFile.
func (l *Lab) EC2APIEnvFile() string { return ec2APIEnvFile(l.dir) }

// EC2API is the lab's running fake EC2 API. Close stops it.
type EC2API struct {
	// URL is the endpoint, http://127.0.0.1:PORT in the gateway's
	// namespace.
	URL string
	// Scenario holds the IDs of the resources it serves (the route
	// table, the security group, …) for checking what diagnose names.
	Scenario ec2test.Scenario

	srv     *ec2test.Server
	envFile string
	once    sync.Once
}

// Env returns the environment lines of EC2APIEnvFile.
func (a *EC2API) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_EC2=" + a.URL,
		"AWS_EC2_METADATA_DISABLED=true", // the lab is not on EC2: no instance metadata to ask
		"AWS_ACCESS_KEY_ID=" + ec2APIAccessKey,
		"AWS_SECRET_ACCESS_KEY=" + ec2APISecretKey,
		"AWS_REGION=" + EC2APIRegion,
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}
}

// Close stops the server and removes its environment file; it is safe to
// call twice.
func (a *EC2API) Close() error {
	a.once.Do(func() {
		a.srv.Close()
		_ = os.Remove(a.envFile)
	})
	return nil
}

// StartEC2API starts the lab's fake EC2 API in this process: listening on
// 127.0.0.1 in the gateway's namespace, following the faults in the lab's
// state file (cgwlab fault NAME on|off, Lab.Fault) before every request,
// and written to EC2APIEnvFile. Close it when done; Down does not see it.
func (l *Lab) StartEC2API() (*EC2API, error) { return startEC2API(l.name, l.dir) }

func startEC2API(name, dir string) (*EC2API, error) {
	st, err := readState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("starting the fake EC2 API: lab %q (state %s): %w", name, dir, ErrNotUp)
	}
	if err != nil {
		return nil, fmt.Errorf("starting the fake EC2 API: %w", err)
	}
	if err := os.MkdirAll(ec2APIDir(dir), 0o700); err != nil {
		return nil, fmt.Errorf("starting the fake EC2 API: %w", err)
	}
	var ln net.Listener
	ns := namespace(name, CGW)
	if err := netnsrun.Named(ns, func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
		return nil, fmt.Errorf("starting the fake EC2 API in %s: %w", ns, err)
	}
	srv := ec2test.NewServerOn(ln)
	a := &EC2API{URL: srv.URL, srv: srv, envFile: ec2APIEnvFile(dir)}
	a.Scenario = srv.AddScenario(scenarioOf(st))
	f := &faultFollower{dir: dir, srv: srv, sc: a.Scenario, applied: map[string]bool{}}
	f.sync()
	srv.SetSync(f.sync)
	body := "# cgwlab " + name + ": the fake EC2 API in namespace " + ns + " (cgw diagnose --aws)\n" + strings.Join(a.Env(), "\n") + "\n"
	if err := writeFileAtomic(a.envFile, []byte(body), 0o600); err != nil {
		srv.Close()
		return nil, fmt.Errorf("starting the fake EC2 API: %w", err)
	}
	return a, nil
}

// scenarioOf is the lab's AWS side as the EC2 API shows it: its VPN
// connection (IDs, endpoints, inside /30s, keys) and a healthy VPC with
// the lab's addresses. The lab's routing is shown static (BGP labs too).
func scenarioOf(st state) ec2test.Scenario {
	sc := ec2test.LabScenario()
	sc.VPN, sc.VGW, sc.CGW = st.VPNConnectionID, st.VPNGatewayID, st.CustomerGatewayID
	sc.VPCCIDR, sc.OnPremises = netip.MustParsePrefix(VPCNetwork), netip.MustParsePrefix(OnPremNetwork)
	sc.Target, sc.CustomerOutside = netip.MustParseAddr(VPCHost), netip.MustParseAddr(ElasticIP)
	for _, t := range st.Tunnels {
		i := t.Number - 1
		if i < 0 || i > 1 {
			continue
		}
		if a, err := netip.ParseAddr(t.AWSOutside); err == nil {
			sc.AWSOutside[i] = a
		}
		if p, err := netip.ParsePrefix(t.AWSInside); err == nil {
			sc.Inside[i] = p.Masked()
		}
		sc.PSKs[i] = t.PSK
	}
	return sc
}

// faultFollower makes the fake's resources show the faults the lab's state
// file has on.
type faultFollower struct {
	dir string
	srv *ec2test.Server
	sc  ec2test.Scenario

	mu      sync.Mutex
	applied map[string]bool
}

func (f *faultFollower) sync() {
	st, err := readState(f.dir)
	if err != nil {
		return // the lab is going down: keep what was shown
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, name := range FaultNames() {
		on := false
		for _, x := range st.Faults {
			on = on || x == name
		}
		if f.applied[name] != on {
			if err := f.srv.LabFault(f.sc, name, on); err == nil {
				f.applied[name] = on
			}
		}
	}
}

// RunEC2API serves lab name's (dir "" = default) fake EC2 API in the
// foreground until ctx ends or the lab goes down: what `cgwlab ec2-api
// --foreground` runs. ready, if not nil, is called once it serves.
func RunEC2API(ctx context.Context, name, dir string, ready func(*EC2API)) error {
	name, dir, err := resolve(name, dir)
	if err != nil {
		return err
	}
	a, err := startEC2API(name, dir)
	if err != nil {
		return err
	}
	defer a.Close()
	if ready != nil {
		ready(a)
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := os.Stat(stateFile(dir)); err != nil {
				return nil // the lab went down
			}
		}
	}
}

// ec2APIProc is the detached server's record (pid.json).
type ec2APIProc struct {
	PID int    `json:"pid"`
	Exe string `json:"exe"`
}

// ec2APIPID returns the PID of lab dir's detached fake EC2 API, if it
// runs: what Down stops.
func ec2APIPID(dir string) (int, bool) {
	b, err := os.ReadFile(ec2APIPIDFile(dir))
	if err != nil {
		return 0, false
	}
	var p ec2APIProc
	if json.Unmarshal(b, &p) != nil || !isProcess(p.PID, p.Exe) {
		return 0, false
	}
	return p.PID, true
}

// StartEC2APIDetached starts cmd (`cgwlab ec2-api --foreground …`, which
// runs RunEC2API) detached from the caller for lab name, records its PID
// for Down, and returns the environment file once the server answers.
// When one already runs, it returns that one's file.
func StartEC2APIDetached(ctx context.Context, name, dir string, cmd []string) (envFile string, err error) {
	name, dir, err = resolve(name, dir)
	if err != nil {
		return "", err
	}
	if _, err := readState(dir); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("lab %q (state %s): %w; start it with `cgwlab up`", name, dir, ErrNotUp)
	}
	if _, ok := ec2APIPID(dir); ok {
		return ec2APIEnvFile(dir), nil
	}
	if len(cmd) == 0 {
		return "", errors.New("starting the fake EC2 API: no command")
	}
	if err := os.MkdirAll(ec2APIDir(dir), 0o700); err != nil {
		return "", fmt.Errorf("starting the fake EC2 API: %w", err)
	}
	_ = os.Remove(ec2APIEnvFile(dir)) // a stale one from a server that died
	out, err := os.OpenFile(ec2APILog(dir), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return "", fmt.Errorf("starting the fake EC2 API: %w", err)
	}
	defer out.Close()
	c := exec.Command(cmd[0], cmd[1:]...)
	c.Stdout, c.Stderr = out, out
	detach(c)
	if err := c.Start(); err != nil {
		return "", fmt.Errorf("starting the fake EC2 API %s: %w", cmd[0], err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }() // reaped here while this process lives
	pid := c.Process.Pid
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		_ = c.Process.Kill()
		return "", fmt.Errorf("starting the fake EC2 API: %w", err)
	}
	b, _ := json.Marshal(ec2APIProc{PID: pid, Exe: strings.TrimSuffix(exe, " (deleted)")})
	if err := writeFileAtomic(ec2APIPIDFile(dir), b, 0o600); err != nil {
		_ = c.Process.Kill()
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(ec2APIEnvFile(dir)); err == nil {
			return ec2APIEnvFile(dir), nil
		}
		select {
		case err := <-exited:
			return "", fmt.Errorf("the fake EC2 API exited (%v); see %s", err, ec2APILog(dir))
		case <-ctx.Done():
			_ = c.Process.Kill()
			return "", fmt.Errorf("the fake EC2 API did not start: %w; see %s", ctx.Err(), ec2APILog(dir))
		case <-tick.C:
		}
	}
}
