package diag

import "fmt"

// checks lists the next checks for the case, in the order an experienced
// engineer would make them, AWS-side ones included.
func (a *analysis) checks(r Report) []string {
	t := a.o.Target.String()
	src := "the on-premises range"
	srcAddr := "SOURCE"
	if a.source.IsValid() {
		src = "the on-premises range containing " + a.source.String()
		srcAddr = a.source.String()
	}
	tun := a.o.TunnelDev
	if tun == "" {
		tun = "the tunnel device"
	}
	var c []string
	add := func(s string, args ...any) { c = append(c, fmt.Sprintf(s, args...)) }

	switch {
	case r.Case == CaseInconclusive:
		add("Capture where the missing evidence is: on the gateway's tunnel device and outside interface (`tcpdump -ni any -w gw.pcap 'icmp or esp or udp port 500 or udp port 4500'` takes all of them), and on %s (`tcpdump -ni any -w rx.pcap icmp`); then `cgw diagnose --sender-pcap gw.pcap --receiver-pcap rx.pcap %s`.", t, t)
		add("Run `cgw diagnose %s` in the gateway's own network namespace, where charon's VICI socket and the inside address are.", t)
	case r.Subcase == SubNotInTunnel:
		add("Capture the outside link too (`tcpdump -ni any`): plain ICMP to %s there is Case 1a (not covered by the tunnel), nothing is Case 1b.", t)
		add("Check that remote_networks covers %s and the route: `ip route get %s from %s` must go via %s.", t, t, srcAddr, tun)
		add("Check tunnel state (`cgw status`, `swanctl --list-sas`) and the local firewall (`nft list ruleset`).")
	case r.Case == 0 && r.Subcase == SubHealthy:
		add("Nothing to fix for ICMP. If an application still fails, test its own protocol and port: security groups and NACLs allow per protocol.")
		add("For large transfers that hang, check the MTU through the tunnel: `ping -M do -s 1372 %s` (ipsec0 MTU is 1400) and that TCP MSS is clamped.", t)
	case r.Case == 0:
		add("Repeat the diagnosis: a lost first request is normal while a tunnel comes up or fails over.")
		add("Check `cgw status` for a recent failover or rekey, and both tunnels' state on the AWS side (`aws ec2 describe-vpn-connections`, VgwTelemetry).")
	case r.Subcase == SubAppendixRoute:
		add("On the sending host, `ip route get %s` must name the gateway's inside address as next hop; add a route for the VPC range via the gateway.", t)
		add("If the sender is in an AWS subnet (or another cloud), the subnet's route table must send the VPC range to the gateway instance's network interface.")
		add("If the gateway is an EC2 instance, disable its source/destination check, or it drops traffic not addressed to itself.")
		add("Check the sending host's own firewall for outbound ICMP.")
	case r.Subcase == SubAppendixForwarding:
		add("Enable forwarding on the gateway: `sysctl net.ipv4.ip_forward=1` (cgw run checks it at start).")
		add("Check rp_filter on the inside and tunnel interfaces: strict (1) drops asymmetric traffic; use loose (2).")
		add("Check the gateway's firewall forward chain (`nft list ruleset`): allow inside → %s and back.", tun)
		add("Check the traffic selectors (`swanctl --list-sas`): the local selector must cover %s, not only the gateway's own address.", src)
		add("cgw keeps both tunnels up itself, so traffic from hosts behind the gateway never depends on the gateway's own traffic bringing a tunnel up.")
	case r.Subcase == Sub1a:
		add("Check that remote_networks covers %s (`cgw status` lists them); add the VPC CIDR if it is missing.", t)
		add("Check the route on the gateway: `ip route get %s from %s` must go via %s, not the outside interface.", t, srcAddr, tun)
		add("Check the CHILD SA's traffic selectors (`swanctl --list-sas`): remote must include %s and local must include %s.", t, srcAddr)
		add("Send from an inside address (`cgw diagnose --source <inside address> %s`): traffic from the outside address does not match the local traffic selector.", t)
	case r.Subcase == Sub1b:
		add("Check tunnel state (`cgw status`, `swanctl --list-sas`): each IKE SA ESTABLISHED with its CHILD SA INSTALLED; if down, read charon's log for the reason (AUTH_FAILED, NO_PROPOSAL_CHOSEN, timeouts).")
		add("Check the route: `ip route get %s from %s` must go via %s.", t, srcAddr, tun)
		add("Check that remote_networks covers %s.", t)
		add("Check the local firewall for drops of ICMP or of traffic toward %s (`nft list ruleset` with counters).", tun)
		add("Check that UDP 500 and 4500 to and from both AWS endpoints are allowed by every firewall and NAT on the way (IKE and NAT-T).")
	case r.Subcase == SubSenderDrop:
		add("Replies arrive through the tunnel but go no further: check the gateway's firewall (input and forward chains) for traffic from %s.", tun)
		add("Check rp_filter on %s: strict (1) drops replies whose reverse path is not the tunnel; use loose (2).", tun)
		if a.o.SenderBehind {
			add("Check forwarding (`net.ipv4.ip_forward=1`) and that the route back to %s goes out the inside interface.", srcAddr)
		}
		add("Check the sender's own firewall: inbound ICMP echo replies from %s must be allowed.", t)
	case r.Subcase == SubNotReceived:
		add("Check the security group on %s's network interface: it must allow inbound ICMP (echo request) from %s.", t, src)
		add("Check the network ACL of %s's subnet: allow ICMP inbound from %s and outbound back to it (NACLs are stateless).", t, src)
		add("Check on the AWS side that the tunnel carrying the traffic is UP (`aws ec2 describe-vpn-connections`, VgwTelemetry) and, for static routing, that the VPN connection's static routes include %s.", src)
		add("Check that %s is the right address and the instance is running (`aws ec2 describe-network-interfaces --filters Name=addresses.private-ip-address,Values=%s`).", t, t)
		add("Check the receiver's host firewall and that the capture ran on the interface that owns %s.", t)
	case r.Subcase == SubUnanswered:
		add("Check the receiver's host firewall: Windows Firewall blocks echo requests by default; on Linux check `nft list ruleset`/`iptables -S` and `net.ipv4.icmp_echo_ignore_all`.")
		add("Check the receiver's route back to %s (`ip route get %s` on the receiver): the reply may leave by another interface.", srcAddr, srcAddr)
		add("AWS notes that some AMIs do not answer pings from tunnel inside addresses: send from an inside address of the on-premises network.")
		add("A request the receiver's capture saw has passed the security group and network ACL inbound; whatever drops it is on the host (its firewall, or the lab's drop-icmp-vpc fault).")
	case r.Subcase == SubReturnPath:
		if a.noRoute {
			add("On %s, `ip route get %s` must find a route: its default route toward the VPC router, or a route for %s.", t, srcAddr, src)
		}
		add("Check the VPC route table of %s's subnet: it needs a route for %s to the virtual private gateway (vgw-…), or route propagation from the VGW enabled.", t, src)
		add("If the VPC reaches the VPN through a transit gateway, its route table must send %s to the VPN attachment.", src)
		add("Check the network ACL of %s's subnet: outbound ICMP to %s must be allowed (NACLs are stateless).", t, src)
		add("Compare SA packets in before and after (`swanctl --list-sas`): packets out rising with packets in flat confirms the replies never entered the tunnel at AWS.")
		add("If the reply is routed through another instance (NAT, firewall appliance), its EC2 source/destination check must be disabled.")
	case r.Subcase == Sub2or3:
		add("Capture on the receiver to tell Case 2 from Case 3: `cgw diagnose --receiver-cmd 'ssh ec2-user@%s sudo cgw capture --json' %s`, or `tcpdump -ni any icmp` on %s. Requests seen and answered there means Case 3; nothing seen means Case 2.", t, t, t)
		add("Compare SA packet counters before and after (`swanctl --list-sas`): packets out rising with packets in flat says the replies never came back through the tunnel, which both cases show.")
		add("Case 2 checks: the security group and network ACL of %s must allow ICMP from %s; the AWS tunnel must be UP; static routes on the VPN connection must include %s.", t, src, src)
		add("Case 3 checks: the VPC route table of %s's subnet must route %s to the virtual private gateway (or have route propagation on); NACL outbound must allow it.", t, src)
	}
	if a.o.GatewayFacts && r.Case != 0 {
		if a.o.Forwarding != nil && !*a.o.Forwarding && a.o.SenderBehind && r.Subcase != SubAppendixForwarding {
			add("IP forwarding is off on the gateway: `sysctl net.ipv4.ip_forward=1`.")
		}
		if a.o.RPFilterStrict && r.Subcase != SubAppendixForwarding && r.Subcase != SubSenderDrop {
			add("rp_filter is strict on the gateway: set it to loose (2) on the inside and tunnel interfaces.")
		}
		for _, d := range a.o.FirewallDrops {
			add("Review the firewall rule that drops traffic: %s.", d)
		}
	}
	if c == nil {
		c = []string{}
	}
	return c
}
