package ec2test

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// xmlns is the namespace of EC2 API version 2016-11-15, which every
// current SDK speaks.
const xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/"

const requestID = "59dbff89-35bd-4eac-99ed-be587example"

type apiError struct {
	status    int
	code, msg string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func notFound(code, format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

// query reads the SDK's form: lists are Name.1, Name.2, …; filters are
// Filter.N.Name with Filter.N.Value.M.
type query url.Values

func (q query) get(k string) string { return url.Values(q).Get(k) }

func (q query) list(name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := q[name+"."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v...)
	}
}

// filters returns the request's filters, name → values.
func (q query) filters() map[string][]string {
	out := map[string][]string{}
	for i := 1; ; i++ {
		name := q.get("Filter." + strconv.Itoa(i) + ".Name")
		if name == "" {
			return out
		}
		out[name] = append(out[name], q.list("Filter."+strconv.Itoa(i)+".Value")...)
	}
}

// match applies filters to a resource: fields gives, for each filter name
// the action supports, the resource's values. An unsupported filter is an
// error, as AWS answers for a misspelt one.
func match(filters map[string][]string, fields map[string][]string) (bool, error) {
	for name, want := range filters {
		have, ok := fields[name]
		if !ok {
			return false, notFound("InvalidParameterValue", "The filter '%s' is invalid", name)
		}
		if !slices.ContainsFunc(want, func(w string) bool { return slices.Contains(have, w) }) {
			return false, nil
		}
	}
	return true, nil
}

func writeXML(w http.ResponseWriter, status int, body any) {
	b, err := xml.MarshalIndent(body, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

// The EC2 Query API's error document.
type errorResponse struct {
	XMLName   xml.Name `xml:"Response"`
	Code      string   `xml:"Errors>Error>Code"`
	Message   string   `xml:"Errors>Error>Message"`
	RequestID string   `xml:"RequestID"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeXML(w, status, errorResponse{Code: code, Message: msg, RequestID: requestID})
}

var actions = map[string]func(*Server, query) (any, error){
	"DescribeVpnConnections":    (*Server).describeVpnConnections,
	"DescribeSubnets":           (*Server).describeSubnets,
	"DescribeNetworkInterfaces": (*Server).describeNetworkInterfaces,
	"DescribeRouteTables":       (*Server).describeRouteTables,
	"DescribeSecurityGroups":    (*Server).describeSecurityGroups,
	"DescribeNetworkAcls":       (*Server).describeNetworkAcls,
	"DescribeInstances":         (*Server).describeInstances,
	"DescribeInstanceAttribute": (*Server).describeInstanceAttribute,
}

type valueItem struct {
	Value string `xml:"value"`
}

func values[T any](vs []T) []valueItem {
	var out []valueItem
	for _, v := range vs {
		out = append(out, valueItem{fmt.Sprint(v)})
	}
	return out
}

func str(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

func addr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// DescribeVpnConnections.

type vpnConnectionsResponse struct {
	XMLName   xml.Name        `xml:"DescribeVpnConnectionsResponse"`
	Xmlns     string          `xml:"xmlns,attr"`
	RequestID string          `xml:"requestId"`
	Set       []vpnConnection `xml:"vpnConnectionSet>item"`
}

type vpnConnection struct {
	ID        string `xml:"vpnConnectionId"`
	State     string `xml:"state"`
	CGWConfig string `xml:"customerGatewayConfiguration,omitempty"`
	Type      string `xml:"type"`
	CGW       string `xml:"customerGatewayId"`
	VGW       string `xml:"vpnGatewayId,omitempty"`
	TGW       string `xml:"transitGatewayId,omitempty"`
	Category  string `xml:"category"`
	Options   vpnOptions
	Routes    []vpnRoute     `xml:"routes>item"`
	Telemetry []vgwTelemetry `xml:"vgwTelemetry>item"`
}

type vpnOptions struct {
	XMLName          xml.Name       `xml:"options"`
	StaticRoutesOnly bool           `xml:"staticRoutesOnly"`
	LocalCIDR        string         `xml:"localIpv4NetworkCidr"`
	RemoteCIDR       string         `xml:"remoteIpv4NetworkCidr"`
	Tunnels          []tunnelOption `xml:"tunnelOptionSet>item"`
}

type tunnelOption struct {
	OutsideIP  string      `xml:"outsideIpAddress"`
	InsideCIDR string      `xml:"tunnelInsideCidr,omitempty"`
	PSK        string      `xml:"preSharedKey,omitempty"`
	P1Life     int         `xml:"phase1LifetimeSeconds,omitempty"`
	P2Life     int         `xml:"phase2LifetimeSeconds,omitempty"`
	DPDTimeout int         `xml:"dpdTimeoutSeconds,omitempty"`
	P1Enc      []valueItem `xml:"phase1EncryptionAlgorithmSet>item,omitempty"`
	P2Enc      []valueItem `xml:"phase2EncryptionAlgorithmSet>item,omitempty"`
	P1Int      []valueItem `xml:"phase1IntegrityAlgorithmSet>item,omitempty"`
	P2Int      []valueItem `xml:"phase2IntegrityAlgorithmSet>item,omitempty"`
	P1DH       []valueItem `xml:"phase1DHGroupNumberSet>item,omitempty"`
	P2DH       []valueItem `xml:"phase2DHGroupNumberSet>item,omitempty"`
	IKE        []valueItem `xml:"ikeVersionSet>item,omitempty"`
}

type vpnRoute struct {
	Destination string `xml:"destinationCidrBlock"`
	Source      string `xml:"source"`
	State       string `xml:"state"`
}

type vgwTelemetry struct {
	OutsideIP      string `xml:"outsideIpAddress"`
	Status         string `xml:"status"`
	LastChange     string `xml:"lastStatusChange"`
	StatusMessage  string `xml:"statusMessage"`
	AcceptedRoutes int    `xml:"acceptedRouteCount"`
}

func (s *Server) describeVpnConnections(q query) (any, error) {
	ids := q.list("VpnConnectionId")
	resp := vpnConnectionsResponse{Xmlns: xmlns, RequestID: requestID}
	for _, id := range ids {
		if find(s.vpns, id, func(x *VPNConnection) string { return x.ID }) == nil {
			return nil, notFound("InvalidVpnConnectionID.NotFound", "The vpnConnection ID '%s' does not exist", id)
		}
	}
	for _, v := range s.vpns {
		if len(ids) > 0 && !slices.Contains(ids, v.ID) {
			continue
		}
		x := vpnConnection{ID: v.ID, State: orDefault(v.State, "available"), CGWConfig: v.CustomerGatewayConfiguration,
			Type: "ipsec.1", CGW: v.CustomerGateway, VGW: v.VPNGatewayID, TGW: v.TransitGatewayID, Category: "VPN",
			Options: vpnOptions{StaticRoutesOnly: v.StaticRoutesOnly, LocalCIDR: "0.0.0.0/0", RemoteCIDR: "0.0.0.0/0"}}
		for _, t := range v.Tunnels {
			x.Options.Tunnels = append(x.Options.Tunnels, tunnelOption{OutsideIP: addr(t.OutsideIP), InsideCIDR: str(t.InsideCIDR), PSK: t.PSK,
				P1Life: t.Phase1LifetimeS, P2Life: t.Phase2LifetimeS, DPDTimeout: t.DPDTimeoutS,
				P1Enc: values(t.Phase1Encryption), P2Enc: values(t.Phase2Encryption), P1Int: values(t.Phase1Integrity), P2Int: values(t.Phase2Integrity),
				P1DH: values(t.Phase1DHGroups), P2DH: values(t.Phase2DHGroups), IKE: values(t.IKEVersions)})
			x.Telemetry = append(x.Telemetry, vgwTelemetry{OutsideIP: addr(t.OutsideIP), Status: orDefault(t.Status, "DOWN"),
				LastChange: "2026-01-01T00:00:00.000Z", StatusMessage: t.StatusMessage, AcceptedRoutes: t.AcceptedRoutes})
		}
		for _, r := range v.Routes {
			x.Routes = append(x.Routes, vpnRoute{Destination: r.String(), Source: "Static", State: "available"})
		}
		resp.Set = append(resp.Set, x)
	}
	return resp, nil
}

// DescribeSubnets.

type subnetsResponse struct {
	XMLName   xml.Name `xml:"DescribeSubnetsResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	RequestID string   `xml:"requestId"`
	Set       []subnet `xml:"subnetSet>item"`
}

type subnet struct {
	ID    string `xml:"subnetId"`
	State string `xml:"state"`
	VPC   string `xml:"vpcId"`
	CIDR  string `xml:"cidrBlock"`
}

func (s *Server) describeSubnets(q query) (any, error) {
	ids, filters := q.list("SubnetId"), q.filters()
	resp := subnetsResponse{Xmlns: xmlns, RequestID: requestID}
	for _, id := range ids {
		if find(s.subnets, id, func(x *Subnet) string { return x.ID }) == nil {
			return nil, notFound("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
		}
	}
	for _, n := range s.subnets {
		if len(ids) > 0 && !slices.Contains(ids, n.ID) {
			continue
		}
		ok, err := match(filters, map[string][]string{"vpc-id": {n.VPC}, "subnet-id": {n.ID}, "cidr-block": {str(n.CIDR)}})
		if err != nil {
			return nil, err
		}
		if ok {
			resp.Set = append(resp.Set, subnet{ID: n.ID, State: "available", VPC: n.VPC, CIDR: str(n.CIDR)})
		}
	}
	return resp, nil
}

// DescribeNetworkInterfaces.

type networkInterfacesResponse struct {
	XMLName   xml.Name           `xml:"DescribeNetworkInterfacesResponse"`
	Xmlns     string             `xml:"xmlns,attr"`
	RequestID string             `xml:"requestId"`
	Set       []networkInterface `xml:"networkInterfaceSet>item"`
}

type networkInterface struct {
	ID              string        `xml:"networkInterfaceId"`
	Subnet          string        `xml:"subnetId"`
	VPC             string        `xml:"vpcId"`
	Status          string        `xml:"status"`
	PrivateIP       string        `xml:"privateIpAddress"`
	SourceDestCheck bool          `xml:"sourceDestCheck"`
	Groups          []groupIdent  `xml:"groupSet>item"`
	Attachment      *eniAttach    `xml:"attachment,omitempty"`
	PrivateIPs      []privateAddr `xml:"privateIpAddressesSet>item"`
	InterfaceType   string        `xml:"interfaceType"`
}

type groupIdent struct {
	ID   string `xml:"groupId"`
	Name string `xml:"groupName"`
}

type eniAttach struct {
	ID       string `xml:"attachmentId"`
	Instance string `xml:"instanceId"`
	Device   int    `xml:"deviceIndex"`
	Status   string `xml:"status"`
}

type privateAddr struct {
	IP      string `xml:"privateIpAddress"`
	Primary bool   `xml:"primary"`
}

func (s *Server) groupIdents(ids []string) []groupIdent {
	var out []groupIdent
	for _, id := range ids {
		name := id
		if g := find(s.sgs, id, func(x *SecurityGroup) string { return x.ID }); g != nil && g.Name != "" {
			name = g.Name
		}
		out = append(out, groupIdent{ID: id, Name: name})
	}
	return out
}

func (s *Server) eniXML(e *NetworkInterface) networkInterface {
	x := networkInterface{ID: e.ID, Subnet: e.Subnet, VPC: e.VPC, Status: "in-use", PrivateIP: addr(e.PrivateIP),
		SourceDestCheck: e.SourceDestCheck, Groups: s.groupIdents(e.Groups), InterfaceType: "interface",
		PrivateIPs: []privateAddr{{IP: addr(e.PrivateIP), Primary: true}}}
	if e.InstanceID != "" {
		x.Attachment = &eniAttach{ID: "eni-attach-" + strings.TrimPrefix(e.ID, "eni-"), Instance: e.InstanceID, Status: "attached"}
	} else {
		x.Status = "available"
	}
	return x
}

func (s *Server) describeNetworkInterfaces(q query) (any, error) {
	ids, filters := q.list("NetworkInterfaceId"), q.filters()
	resp := networkInterfacesResponse{Xmlns: xmlns, RequestID: requestID}
	for _, id := range ids {
		if find(s.enis, id, func(x *NetworkInterface) string { return x.ID }) == nil {
			return nil, notFound("InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", id)
		}
	}
	for _, e := range s.enis {
		if len(ids) > 0 && !slices.Contains(ids, e.ID) {
			continue
		}
		ok, err := match(filters, map[string][]string{
			"addresses.private-ip-address": {addr(e.PrivateIP)}, "private-ip-address": {addr(e.PrivateIP)},
			"vpc-id": {e.VPC}, "subnet-id": {e.Subnet}, "attachment.instance-id": {e.InstanceID},
			"network-interface-id": {e.ID}})
		if err != nil {
			return nil, err
		}
		if ok {
			resp.Set = append(resp.Set, s.eniXML(e))
		}
	}
	return resp, nil
}

// DescribeRouteTables.

type routeTablesResponse struct {
	XMLName   xml.Name     `xml:"DescribeRouteTablesResponse"`
	Xmlns     string       `xml:"xmlns,attr"`
	RequestID string       `xml:"requestId"`
	Set       []routeTable `xml:"routeTableSet>item"`
}

type routeTable struct {
	ID           string       `xml:"routeTableId"`
	VPC          string       `xml:"vpcId"`
	OwnerID      string       `xml:"ownerId"`
	Routes       []route      `xml:"routeSet>item"`
	Associations []rtbAssoc   `xml:"associationSet>item"`
	Propagating  []propagates `xml:"propagatingVgwSet>item"`
}

type route struct {
	Destination string `xml:"destinationCidrBlock"`
	GatewayID   string `xml:"gatewayId,omitempty"`
	TGW         string `xml:"transitGatewayId,omitempty"`
	ENI         string `xml:"networkInterfaceId,omitempty"`
	Instance    string `xml:"instanceId,omitempty"`
	State       string `xml:"state"`
	Origin      string `xml:"origin"`
}

type rtbAssoc struct {
	ID     string `xml:"routeTableAssociationId"`
	RTB    string `xml:"routeTableId"`
	Subnet string `xml:"subnetId,omitempty"`
	Main   bool   `xml:"main"`
	State  string `xml:"associationState>state"`
}

type propagates struct {
	GatewayID string `xml:"gatewayId"`
}

func (s *Server) describeRouteTables(q query) (any, error) {
	ids, filters := q.list("RouteTableId"), q.filters()
	resp := routeTablesResponse{Xmlns: xmlns, RequestID: requestID}
	for _, id := range ids {
		if find(s.rtbs, id, func(x *RouteTable) string { return x.ID }) == nil {
			return nil, notFound("InvalidRouteTableID.NotFound", "The routeTable ID '%s' does not exist", id)
		}
	}
	for _, t := range s.rtbs {
		if len(ids) > 0 && !slices.Contains(ids, t.ID) {
			continue
		}
		ok, err := match(filters, map[string][]string{"vpc-id": {t.VPC}, "route-table-id": {t.ID},
			"association.subnet-id": t.Subnets, "association.main": {strconv.FormatBool(t.Main)}})
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		x := routeTable{ID: t.ID, VPC: t.VPC, OwnerID: "123456789012"}
		for _, r := range t.Routes {
			x.Routes = append(x.Routes, route{Destination: str(r.Destination), GatewayID: r.GatewayID, TGW: r.TransitGatewayID,
				ENI: r.NetworkInterfaceID, Instance: r.InstanceID, State: orDefault(r.State, "active"), Origin: orDefault(r.Origin, "CreateRoute")})
		}
		if t.Main {
			x.Associations = append(x.Associations, rtbAssoc{ID: "rtbassoc-main" + strings.TrimPrefix(t.ID, "rtb-"), RTB: t.ID, Main: true, State: "associated"})
		}
		for i, sn := range t.Subnets {
			x.Associations = append(x.Associations, rtbAssoc{ID: fmt.Sprintf("rtbassoc-%d%s", i, strings.TrimPrefix(t.ID, "rtb-")), RTB: t.ID, Subnet: sn, State: "associated"})
		}
		for _, g := range t.PropagatingVGWs {
			x.Propagating = append(x.Propagating, propagates{g})
		}
		resp.Set = append(resp.Set, x)
	}
	return resp, nil
}

// DescribeSecurityGroups.

type securityGroupsResponse struct {
	XMLName   xml.Name        `xml:"DescribeSecurityGroupsResponse"`
	Xmlns     string          `xml:"xmlns,attr"`
	RequestID string          `xml:"requestId"`
	Info      []securityGroup `xml:"securityGroupInfo>item"`
}

type securityGroup struct {
	OwnerID     string         `xml:"ownerId"`
	ID          string         `xml:"groupId"`
	Name        string         `xml:"groupName"`
	Description string         `xml:"groupDescription"`
	VPC         string         `xml:"vpcId"`
	Ingress     []ipPermission `xml:"ipPermissions>item"`
	Egress      []ipPermission `xml:"ipPermissionsEgress>item"`
}

type ipPermission struct {
	Protocol string    `xml:"ipProtocol"`
	FromPort *int      `xml:"fromPort,omitempty"`
	ToPort   *int      `xml:"toPort,omitempty"`
	Ranges   []ipRange `xml:"ipRanges>item"`
}

type ipRange struct {
	CIDR string `xml:"cidrIp"`
}

func permissions(ps []Permission) []ipPermission {
	var out []ipPermission
	for _, p := range ps {
		x := ipPermission{Protocol: p.Protocol}
		if p.Protocol != "-1" {
			from, to := p.FromPort, p.ToPort
			x.FromPort, x.ToPort = &from, &to
		}
		for _, c := range p.CIDRs {
			x.Ranges = append(x.Ranges, ipRange{c.String()})
		}
		out = append(out, x)
	}
	return out
}

func (s *Server) describeSecurityGroups(q query) (any, error) {
	ids, filters := q.list("GroupId"), q.filters()
	resp := securityGroupsResponse{Xmlns: xmlns, RequestID: requestID}
	for _, id := range ids {
		if find(s.sgs, id, func(x *SecurityGroup) string { return x.ID }) == nil {
			return nil, notFound("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
		}
	}
	for _, g := range s.sgs {
		if len(ids) > 0 && !slices.Contains(ids, g.ID) {
			continue
		}
		ok, err := match(filters, map[string][]string{"vpc-id": {g.VPC}, "group-id": {g.ID}})
		if err != nil {
			return nil, err
		}
		if ok {
			resp.Info = append(resp.Info, securityGroup{OwnerID: "123456789012", ID: g.ID, Name: orDefault(g.Name, g.ID),
				Description: "ec2test", VPC: g.VPC, Ingress: permissions(g.Ingress), Egress: permissions(g.Egress)})
		}
	}
	return resp, nil
}

// DescribeNetworkAcls.

type networkAclsResponse struct {
	XMLName   xml.Name     `xml:"DescribeNetworkAclsResponse"`
	Xmlns     string       `xml:"xmlns,attr"`
	RequestID string       `xml:"requestId"`
	Set       []networkACL `xml:"networkAclSet>item"`
}

type networkACL struct {
	ID           string     `xml:"networkAclId"`
	VPC          string     `xml:"vpcId"`
	Default      bool       `xml:"default"`
	Entries      []aclEntry `xml:"entrySet>item"`
	Associations []aclAssoc `xml:"associationSet>item"`
}

type aclEntry struct {
	Number   int       `xml:"ruleNumber"`
	Protocol string    `xml:"protocol"`
	Action   string    `xml:"ruleAction"`
	Egress   bool      `xml:"egress"`
	CIDR     string    `xml:"cidrBlock"`
	ICMP     *icmpCode `xml:"icmpTypeCode,omitempty"`
}

type icmpCode struct {
	Code int `xml:"code"`
	Type int `xml:"type"`
}

type aclAssoc struct {
	ID     string `xml:"networkAclAssociationId"`
	ACL    string `xml:"networkAclId"`
	Subnet string `xml:"subnetId"`
}

func (s *Server) describeNetworkAcls(q query) (any, error) {
	ids, filters := q.list("NetworkAclId"), q.filters()
	resp := networkAclsResponse{Xmlns: xmlns, RequestID: requestID}
	for _, a := range s.acls {
		if len(ids) > 0 && !slices.Contains(ids, a.ID) {
			continue
		}
		ok, err := match(filters, map[string][]string{"vpc-id": {a.VPC}, "network-acl-id": {a.ID},
			"association.subnet-id": a.Subnets, "default": {strconv.FormatBool(a.Default)}})
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		x := networkACL{ID: a.ID, VPC: a.VPC, Default: a.Default}
		entries := slices.Clone(a.Entries)
		for _, egress := range []bool{false, true} {
			if !slices.ContainsFunc(entries, func(e ACLEntry) bool { return e.Number == 32767 && e.Egress == egress }) {
				entries = append(entries, ACLEntry{Number: 32767, Egress: egress, Protocol: "-1", CIDR: netip.MustParsePrefix("0.0.0.0/0")})
			}
		}
		slices.SortFunc(entries, func(a, b ACLEntry) int {
			if a.Egress != b.Egress {
				if a.Egress {
					return 1
				}
				return -1
			}
			return a.Number - b.Number
		})
		for _, e := range entries {
			y := aclEntry{Number: e.Number, Protocol: e.Protocol, Action: "deny", Egress: e.Egress, CIDR: str(e.CIDR)}
			if e.Allow {
				y.Action = "allow"
			}
			if e.Protocol == "1" {
				y.ICMP = &icmpCode{Code: e.ICMPCode, Type: e.ICMPType}
			}
			x.Entries = append(x.Entries, y)
		}
		for i, sn := range a.Subnets {
			x.Associations = append(x.Associations, aclAssoc{ID: fmt.Sprintf("aclassoc-%d%s", i, strings.TrimPrefix(a.ID, "acl-")), ACL: a.ID, Subnet: sn})
		}
		resp.Set = append(resp.Set, x)
	}
	return resp, nil
}

// DescribeInstances and DescribeInstanceAttribute.

type instancesResponse struct {
	XMLName      xml.Name      `xml:"DescribeInstancesResponse"`
	Xmlns        string        `xml:"xmlns,attr"`
	RequestID    string        `xml:"requestId"`
	Reservations []reservation `xml:"reservationSet>item"`
}

type reservation struct {
	ID        string     `xml:"reservationId"`
	OwnerID   string     `xml:"ownerId"`
	Instances []instance `xml:"instancesSet>item"`
}

type instance struct {
	ID              string             `xml:"instanceId"`
	State           instanceState      `xml:"instanceState"`
	PrivateIP       string             `xml:"privateIpAddress"`
	Subnet          string             `xml:"subnetId"`
	VPC             string             `xml:"vpcId"`
	SourceDestCheck bool               `xml:"sourceDestCheck"`
	ENIs            []networkInterface `xml:"networkInterfaceSet>item"`
}

type instanceState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

func (s *Server) describeInstances(q query) (any, error) {
	ids := q.list("InstanceId")
	if len(q.filters()) > 0 {
		return nil, notFound("InvalidParameterValue", "ec2test serves DescribeInstances by InstanceId only")
	}
	resp := instancesResponse{Xmlns: xmlns, RequestID: requestID}
	for _, id := range ids {
		if find(s.insts, id, func(x *Instance) string { return x.ID }) == nil {
			return nil, notFound("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
		}
	}
	for _, in := range s.insts {
		if len(ids) > 0 && !slices.Contains(ids, in.ID) {
			continue
		}
		x := instance{ID: in.ID, State: instanceState{16, "running"}, PrivateIP: addr(in.PrivateIP), Subnet: in.Subnet, VPC: in.VPC, SourceDestCheck: in.SourceDestCheck}
		for _, id := range in.ENIs {
			if e := find(s.enis, id, func(x *NetworkInterface) string { return x.ID }); e != nil {
				x.ENIs = append(x.ENIs, s.eniXML(e))
			}
		}
		resp.Reservations = append(resp.Reservations, reservation{ID: "r-" + strings.TrimPrefix(in.ID, "i-"), OwnerID: "123456789012", Instances: []instance{x}})
	}
	return resp, nil
}

type instanceAttributeResponse struct {
	XMLName         xml.Name  `xml:"DescribeInstanceAttributeResponse"`
	Xmlns           string    `xml:"xmlns,attr"`
	RequestID       string    `xml:"requestId"`
	InstanceID      string    `xml:"instanceId"`
	SourceDestCheck valueBool `xml:"sourceDestCheck"`
}

type valueBool struct {
	Value bool `xml:"value"`
}

func (s *Server) describeInstanceAttribute(q query) (any, error) {
	id, attr := q.get("InstanceId"), q.get("Attribute")
	in := find(s.insts, id, func(x *Instance) string { return x.ID })
	if in == nil {
		return nil, notFound("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
	}
	if attr != "sourceDestCheck" {
		return nil, notFound("InvalidParameterValue", "ec2test serves the sourceDestCheck attribute only, not %q", attr)
	}
	return instanceAttributeResponse{Xmlns: xmlns, RequestID: requestID, InstanceID: in.ID, SourceDestCheck: valueBool{in.SourceDestCheck}}, nil
}
