package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Up builds the lab: namespaces, links, NAT, both charons (waiting until
// VICI answers), the AWS side's connections, and the download files and
// cgw.yaml in the state directory. It refuses when a lab of that name is
// up, and tears down what it created when it fails half-way.
func Up(ctx context.Context, o Options) (*Lab, error) {
	if err := supported(); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("the lab must run as root (it creates network namespaces and runs charon)")
	}
	dp, err := checkDataplane(o.Dataplane)
	if err != nil {
		return nil, err
	}
	if err := checkStrongswan(dp); err != nil {
		return nil, err
	}
	side, err := checkAWSSide(o.AWSSide, dp)
	if err != nil {
		return nil, err
	}
	if o.BGP {
		if err := checkFRR(); err != nil {
			return nil, err
		}
	}
	name, dir, err := resolve(o.Name, o.Dir)
	if err != nil {
		return nil, err
	}
	st := state{Name: name, Dir: dir, IKEVersion: 2, Proposals: o.Proposals, ESPProposals: o.ESPProposals,
		CGWInstallRoutes: true, Dataplane: dp, AWSSide: side, PIDs: map[Host]int{}, Created: time.Now().UTC()}
	if o.IKEv1 {
		st.IKEVersion = 1
	}
	if err := o.TunnelOptions.check(st.IKEVersion); err != nil {
		return nil, err
	}
	st.TunnelOptions = o.TunnelOptions
	if len(st.Proposals) == 0 {
		st.Proposals = DefaultProposals()
	}
	if len(st.ESPProposals) == 0 {
		st.ESPProposals = DefaultESPProposals()
	}
	if o.CGWInstallRoutes != nil {
		st.CGWInstallRoutes = *o.CGWInstallRoutes
	}
	n := o.Tunnels
	if n == 0 {
		n = 2
	}
	if n != 1 && n != 2 {
		return nil, fmt.Errorf("tunnels: want 1 or 2, got %d", n)
	}
	switch {
	case o.AWSPrefer == 0:
	case o.AWSPrefer != 1 && o.AWSPrefer != 2:
		return nil, fmt.Errorf("aws prefer: want tunnel 1 or 2, got %d", o.AWSPrefer)
	case o.AWSPrefer > n:
		return nil, fmt.Errorf("aws prefer: tunnel %d, but the lab has %d tunnel(s)", o.AWSPrefer, n)
	case side != AWSFaithful:
		return nil, fmt.Errorf("aws prefer: only the %s AWS side has a preferred tunnel", AWSFaithful)
	}
	if side == AWSFaithful {
		st.AWSPrefer = max(o.AWSPrefer, 1)
	}
	conns, err := checkConnections(o, dp, side, n)
	if err != nil {
		return nil, err
	}
	if err := checkNotUp(name, dir); err != nil {
		return nil, err
	}
	if st.Tunnels, err = newTunnels(n); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		id  *string
		pfx string
	}{{&st.VPNConnectionID, "vpn"}, {&st.VPNGatewayID, "vgw"}, {&st.CustomerGatewayID, "cgw"}} {
		if *p.id, err = newID(p.pfx); err != nil {
			return nil, err
		}
	}
	if conns > 1 || o.TGW { // connections.go
		if err := st.addConnections(conns, o.TGW); err != nil {
			return nil, err
		}
	}

	l := &Lab{name: name, dir: dir, logf: o.Logf, st: st, procs: map[Host]*charonProc{}}
	err = l.up(ctx, o.BGP)
	if err == nil && o.BGP {
		err = l.upBGP(ctx)
	}
	if err == nil && l.st.faithful() && !o.BGP {
		err = l.startWatcher(o.WatcherCommand)
	}
	if err != nil {
		l.stopWatcher()
		if derr := Down(name, dir); derr != nil {
			err = fmt.Errorf("%w (and tearing down: %v)", err, derr)
		}
		return nil, err
	}
	return l, nil
}

// checkNotUp refuses when anything of lab name exists.
func checkNotUp(name, dir string) error {
	hint := "run `cgwlab down` first"
	if name != DefaultName {
		hint = fmt.Sprintf("run `cgwlab down --name %s` first", name)
	}
	if _, err := os.Stat(stateFile(dir)); err == nil {
		return fmt.Errorf("lab %q is already up (state %s): %s", name, stateFile(dir), hint)
	}
	for _, h := range AllHosts() {
		if _, err := os.Stat(nsPath(namespace(name, h))); err == nil {
			return fmt.Errorf("lab %q is already up or was left behind (namespace %s exists): %s",
				name, namespace(name, h), hint)
		}
	}
	return nil
}

func nsPath(ns string) string { return filepath.Join("/run/netns", ns) }

func (l *Lab) up(ctx context.Context, bgp bool) error {
	start := time.Now()
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	for _, h := range l.st.charonHosts() {
		d := filepath.Join(l.dir, string(h))
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("creating the state directory: %w", err)
		}
		ir := true
		if h == CGW {
			ir = l.st.CGWInstallRoutes
		}
		conf := strongswanConfDPD(h, ir, l.st.dataplane(), endpointHost(h))
		if err := writeFileAtomic(filepath.Join(d, "strongswan.conf"), []byte(conf), 0o600); err != nil {
			return err
		}
	}
	var hs []string
	for _, h := range l.st.hosts() {
		hs = append(hs, string(h))
	}
	side := l.st.AWSSide
	if side == "" {
		side = "route-based"
	}
	l.log("creating namespaces %s-{%s} (%s data plane, %s AWS side)", l.name, strings.Join(hs, ","), l.st.dataplane(), side)
	if err := buildTopology(ctx, l.name, &l.st, bgp); err != nil {
		return err
	}
	if l.st.kernel() {
		if err := l.writeAWSUpdown(); err != nil {
			return err
		}
		if err := l.awsLinks(ctx); err != nil {
			return err
		}
	}
	l.log("starting charon in %v", l.st.charonHosts())
	if err := l.startCharons(ctx, l.st.charonHosts()...); err != nil {
		return err
	}
	l.log("loading the AWS side: IKEv%d, %d tunnel(s)", l.st.IKEVersion, len(l.st.Tunnels))
	if err := l.loadAWS(ctx); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writeFiles(); err != nil {
		return err
	}
	if err := l.save(); err != nil {
		return err
	}
	l.log("lab %s up in %s", l.name, time.Since(start).Round(time.Millisecond))
	return nil
}

// startCharons starts the charons of hosts in parallel and records them.
func (l *Lab) startCharons(ctx context.Context, hosts ...Host) error {
	procs := make([]*charonProc, len(hosts))
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() { procs[i], errs[i] = l.startCharon(ctx, h) })
	}
	wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, h := range hosts {
		if procs[i] != nil {
			l.procs[h] = procs[i]
			l.st.PIDs[h] = procs[i].pid
		}
	}
	return errors.Join(errs...)
}

// writeFiles writes the download files and cgw.yaml; l.mu must be held.
func (l *Lab) writeFiles() error {
	v := l.st.connView(1) // connection 1's tunnels only (connections.go)
	x, err := renderXML(v)
	if err != nil {
		return err
	}
	j, err := renderJSON(&l.st, x, false)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		path, data string
	}{
		{l.GenericFile(), renderGeneric(v)},
		{l.XMLFile(), x},
		{l.JSONFile(), j},
		{l.ConfigFile(), renderLabConfig(&l.st, l.dir, false)},
	} {
		if err := writeFileAtomic(f.path, []byte(f.data), 0o600); err != nil {
			return err
		}
	}
	return l.writeConnFiles(nil)
}

// Down removes everything of lab name (dir "" = default): its charons and
// any charon, bgpd, zebra, tcpdump or ping left in its namespaces (found through
// /proc/PID/ns/net, or a mount of the lab directory over /run), the six
// namespaces <name>-<host> and the state directory. It works from what it
// finds, not only from the state file, so it cleans up after a crash;
// calling it twice is fine. Other processes still in a lab namespace are
// left alone and named in the error.
func Down(name, dir string) error {
	name, dir, err := resolve(name, dir)
	if err != nil {
		return err
	}
	if err := supported(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	pids := map[int]chan struct{}{}
	if st, err := readState(dir); err == nil {
		for _, pid := range st.PIDs {
			if isCharon(pid) {
				pids[pid] = nil
			}
		}
		if st.WatcherExe != "" && isProcess(st.WatcherPID, st.WatcherExe) {
			pids[st.WatcherPID] = nil
		}
	}
	if pid, ok := ec2APIPID(dir); ok { // cgwlab ec2-api
		pids[pid] = nil
	}
	var nss []string
	for _, h := range AllHosts() {
		if _, err := os.Stat(nsPath(namespace(name, h))); err == nil {
			nss = append(nss, namespace(name, h))
		}
	}
	var paths []string
	for _, ns := range nss {
		paths = append(paths, nsPath(ns))
	}
	stop, others := procsInNamespaces(paths, dir)
	for _, pid := range stop {
		pids[pid] = nil
	}
	stopPIDs(pids, 5*time.Second)

	var errs []error
	if len(others) > 0 {
		errs = append(errs, fmt.Errorf("left running in lab %q (not stopped): %v", name, others))
	}
	if len(nss) > 0 {
		var lines []string
		for _, ns := range nss {
			lines = append(lines, "netns del "+ns)
		}
		if err := ipBatch(ctx, "", lines...); err != nil {
			errs = append(errs, fmt.Errorf("deleting namespaces: %w", err))
		}
	}
	if err := removeStateDir(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeStateDir removes a lab's state directory. A directory that does
// not look like a lab's (no state.json, not under /run/cgwlab) loses only
// the lab's own files, and stays if anything else is in it.
func removeStateDir(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	_, serr := os.Stat(stateFile(dir))
	if serr == nil || filepath.Dir(dir) == DefaultBaseDir {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("removing the state directory: %w", err)
		}
		return nil
	}
	for _, f := range []string{"state.json", "state.json.tmp", "generic.txt", "vpn-connection.xml", jsonFileName, "cgw.yaml", "cgw.sock", "aws", "aws1", "aws2", "vgw", "cgw", "bgp.json",
		"aws3", "aws4", "aws5", "aws6", "aws7", "aws8", "vgw2", "vgw3", "vgw4", "conn2", "conn3", "conn4", "ec2api"} {
		if err := os.RemoveAll(filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("removing the state directory: %w", err)
		}
	}
	_ = os.Remove(dir)
	return nil
}
