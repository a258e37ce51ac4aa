package lab

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The fault knobs. Faults that are states (the first six) are recorded in
// the state file while on; the restarts are actions (on restarts, off does
// nothing).
const (
	FaultSilenceTunnel1   = "silence-tunnel1"    // inet drops all traffic to and from 203.0.113.10
	FaultSilenceTunnel2   = "silence-tunnel2"    // inet drops all traffic to and from 203.0.113.20
	FaultSilenceTunnel3   = "silence-tunnel3"    // inet drops all traffic to and from 203.0.113.30 (connection 2's tunnel 1)
	FaultSilenceTunnel4   = "silence-tunnel4"    // inet drops all traffic to and from 203.0.113.40 (connection 2's tunnel 2)
	FaultSilenceTunnel5   = "silence-tunnel5"    // inet drops all traffic to and from 203.0.113.50 (connection 3's tunnel 1)
	FaultSilenceTunnel6   = "silence-tunnel6"    // inet drops all traffic to and from 203.0.113.60 (connection 3's tunnel 2)
	FaultSilenceTunnel7   = "silence-tunnel7"    // inet drops all traffic to and from 203.0.113.70 (connection 4's tunnel 1)
	FaultSilenceTunnel8   = "silence-tunnel8"    // inet drops all traffic to and from 203.0.113.80 (connection 4's tunnel 2)
	FaultBlockNATT        = "block-natt"         // inet drops UDP port 4500 (either direction)
	FaultDropICMPVPC      = "drop-icmp-vpc"      // the VPC host drops ICMP input (security group)
	FaultNoReturnRoute    = "no-return-route"    // the VPC host itself loses its default route: it never answers
	FaultVPCRouteTable    = "vpc-route-table"    // the VPC's router has no route back to on-premises: the host answers, the reply is lost past it
	FaultNATMapping       = "nat-mapping"        // the NAT's public address becomes 198.51.100.51
	FaultRestartAWSCharon = "restart-aws-charon" // restart the AWS side's charon(s) (both endpoints') and reload them
	FaultRestartCGWCharon = "restart-cgw-charon" // restart the cgw-side charon (empty, as at Up)
)

// FaultNames returns every fault name Fault accepts.
func FaultNames() []string {
	return []string{FaultSilenceTunnel1, FaultSilenceTunnel2, FaultSilenceTunnel3, FaultSilenceTunnel4,
		FaultSilenceTunnel5, FaultSilenceTunnel6, FaultSilenceTunnel7, FaultSilenceTunnel8, FaultBlockNATT, FaultDropICMPVPC,
		FaultNoReturnRoute, FaultVPCRouteTable, FaultNATMapping, FaultRestartAWSCharon, FaultRestartCGWCharon}
}

// Fault turns fault name on or off. Turning a fault on twice, or off when it
// is off, is fine. For the restarts, on restarts that charon (a new pid,
// waiting until VICI answers; the AWS side's connections are reloaded, the
// cgw side comes back empty, as cgw's own charon would after a crash) and
// off does nothing.
func (l *Lab) Fault(ctx context.Context, name string, on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	switch name {
	case FaultSilenceTunnel1, FaultSilenceTunnel2, FaultSilenceTunnel3, FaultSilenceTunnel4,
		FaultSilenceTunnel5, FaultSilenceTunnel6, FaultSilenceTunnel7, FaultSilenceTunnel8:
		n := int(name[len(name)-1] - '0')
		if l.st.connOfTunnel(n) == 0 && n > 2 {
			return fmt.Errorf("fault %s: the lab has no tunnel %d (it has %d connection(s); tunnels %d and %d are connection %d's)",
				name, n, l.st.connections(), GlobalTunnel((n+1)/2, 1), GlobalTunnel((n+1)/2, 2), (n+1)/2)
		}
		addr := tunnelOutside(n)
		err = l.nftTable(ctx, Inet, strings.ReplaceAll(name, "-", "_"), on, fmt.Sprintf(
			"chain forward { type filter hook forward priority 0; policy accept; ip saddr %[1]s drop; ip daddr %[1]s drop; }", addr))
	case FaultBlockNATT:
		err = l.nftTable(ctx, Inet, "block_natt", on,
			"chain forward { type filter hook forward priority 0; policy accept; udp dport 4500 drop; udp sport 4500 drop; }")
	case FaultDropICMPVPC:
		err = l.nftTable(ctx, VPC, "security_group", on,
			"chain input { type filter hook input priority 0; policy accept; ip protocol icmp drop; }")
	case FaultNoReturnRoute:
		line := "route replace default via 10.10.100.1"
		if on {
			line = "route flush exact 0.0.0.0/0"
		}
		err = ipBatch(ctx, l.Namespace(VPC), line)
	case FaultVPCRouteTable:
		// The seed's Case 3: a subnet route table without a route to the
		// customer (or propagation off). The VPC's router is vgw on the
		// faithful side, the aws host on the newest-SA side; it drops
		// what the VPC sends to on-premises, so the host's capture shows
		// request and reply while the reply never reaches a tunnel.
		router := VGW
		if !l.st.faithful() {
			router = AWS
		}
		err = l.nftTable(ctx, router, "route_table", on, fmt.Sprintf(
			"chain forward { type filter hook forward priority 0; policy accept; ip saddr %s ip daddr %s drop; }", VPCNetwork, OnPremNetwork))
	case FaultNATMapping:
		err = l.natMapping(ctx, on)
	case FaultRestartAWSCharon, FaultRestartCGWCharon:
		if !on {
			return nil
		}
		if name == FaultRestartCGWCharon {
			return l.restartCharon(ctx, CGW)
		}
		for _, h := range l.st.awsHosts() {
			if err := l.restartCharon(ctx, h); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("unknown fault %q (known: %s)", name, strings.Join(FaultNames(), ", "))
	}
	if err != nil {
		return fmt.Errorf("fault %s %s: %w", name, onOff(on), err)
	}
	l.setFault(name, on)
	l.log("fault %s %s", name, onOff(on))
	return l.save()
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// nftTable adds (on) or removes (off) the table "fault_<table>" holding
// body in host h. Both directions are idempotent.
func (l *Lab) nftTable(ctx context.Context, h Host, table string, on bool, body string) error {
	t := "fault_" + table
	script := fmt.Sprintf("table ip %[1]s {}\ndelete table ip %[1]s\n", t)
	if on {
		script += fmt.Sprintf("table ip %s {\n\t%s\n}\n", t, body)
	}
	return nftIn(ctx, l.Namespace(h), script)
}

// natMapping moves the NAT's public address to AltElasticIP (on) or back,
// and forgets existing NAT bindings so running flows change too.
func (l *Lab) natMapping(ctx context.Context, on bool) error {
	ns := l.Namespace(NAT)
	pub, line := ElasticIP, "addr flush dev wan0 to "+AltElasticIP+"/32"
	if on {
		pub, line = AltElasticIP, "addr replace "+AltElasticIP+"/24 dev wan0"
	}
	if err := ipBatch(ctx, ns, line); err != nil {
		return err
	}
	if err := nftIn(ctx, ns, natTable(pub)); err != nil {
		return err
	}
	return flushConntrack(ns)
}

// restartCharon stops host h's charon and starts a new one; l.mu is held.
func (l *Lab) restartCharon(ctx context.Context, h Host) error {
	l.log("restarting charon in %s", l.Namespace(h))
	pids := map[int]chan struct{}{}
	if p, ok := l.procs[h]; ok {
		pids[p.pid] = p.done
	} else if pid := l.st.PIDs[h]; isCharon(pid) {
		pids[pid] = nil
	}
	stopPIDs(pids, 5*time.Second)
	delete(l.procs, h)
	p, err := l.startCharon(ctx, h)
	if err != nil {
		return fmt.Errorf("restarting charon in %s: %w", h, err)
	}
	l.procs[h] = p
	l.st.PIDs[h] = p.pid
	if h == CGW {
		l.st.Plain = false
	}
	if h != CGW {
		if l.st.kernel() {
			if err := l.resetAWSRoute(ctx); err != nil {
				return err
			}
		}
		if err := l.loadEndpoint(ctx, h); err != nil {
			return err
		}
	}
	return l.save()
}
