// Package ec2test runs a fake EC2 Query API and instance metadata service
// (IMDSv2) on 127.0.0.1, like net/http/httptest, for tests that drive the
// real aws-sdk-go-v2 against it. Responses have the XML shape the EC2 API
// reference documents (DescribeVpnConnectionsResponse, vpnConnectionSet,
// item, …); requests are the SDK's form-encoded POSTs (Action=…,
// Filter.1.Name=…). The state is set from Go: Add* methods build it, and
// setters named for the fault they make (RemoveRoute, RevokeICMP,
// SetTunnelStatus, Deny) let a lab follow its own faults.
//
// Only the actions and filters cgw uses are served; anything else is an
// InvalidAction or InvalidParameterValue error, so a test notices. Every
// request must carry a SigV4 Authorization header; the region it was
// signed for is recorded (Requests).
//
// A Server is safe for concurrent use.
package ec2test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Server is a fake EC2 endpoint and IMDS. Use URL as the EC2 endpoint
// (BaseEndpoint, AWS_ENDPOINT_URL_EC2) and as the IMDS endpoint
// (AWS_EC2_METADATA_SERVICE_ENDPOINT).
type Server struct {
	// URL is http://127.0.0.1:port.
	URL string

	srv *httptest.Server

	mu       sync.Mutex
	vpns     []*VPNConnection
	subnets  []*Subnet
	enis     []*NetworkInterface
	rtbs     []*RouteTable
	sgs      []*SecurityGroup
	acls     []*NetworkACL
	insts    []*Instance
	denied   map[string]bool
	requests []Request
	// IMDS: the instance the metadata describes, if any.
	imdsInstance, imdsRegion string
	imdsToken                string
	imdsCreds                *Credentials
	// sync, if set, runs before each EC2 request is answered (SetSync).
	sync func()
}

// Request is one EC2 API call the server answered.
type Request struct {
	Action string
	Region string // from the SigV4 credential scope
	// Attempt is the SDK's attempt number (amz-sdk-request: attempt=N;
	// 0 when absent): a retry of a call is the same call again.
	Attempt int
}

// Calls returns the calls answered so far without the SDK's retries.
func (s *Server) Calls() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Attempt <= 1 {
			r.Attempt = 0
			out = append(out, r)
		}
	}
	return out
}

// attempt reads the SDK's attempt number from amz-sdk-request.
func attempt(h string) int {
	for _, f := range strings.Split(h, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(f), "attempt="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// Credentials, when given to SetIMDSCredentials, are served as the
// instance role's under /latest/meta-data/iam/security-credentials/.
type Credentials struct {
	Role, AccessKeyID, SecretAccessKey, Token string
}

// NewServer starts a Server on 127.0.0.1. Close it when done.
func NewServer() *Server {
	s := &Server{denied: map[string]bool{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	return s
}

// NewServerOn starts a Server on l, which it then owns: for a listener
// opened inside a lab's network namespace, where the gateway's cgw can
// reach it. URL is http:// and l's address.
func NewServerOn(l net.Listener) *Server {
	s := &Server{denied: map[string]bool{}}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	s.URL = s.srv.URL
	return s
}

// Close shuts the server down; it is safe to call twice.
func (s *Server) Close() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Requests returns the calls answered so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Deny makes action (e.g. "DescribeRouteTables") fail with
// UnauthorizedOperation, as for a role without that IAM action; "*" denies
// every action.
func (s *Server) Deny(action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[action] = true
}

// SetIdentity makes the IMDS describe an instance: its ID and region. An
// empty id serves 404s, as off EC2 (where nothing would answer at all).
func (s *Server) SetIdentity(instanceID, region string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.imdsInstance, s.imdsRegion = instanceID, region
}

// SetIMDSCredentials serves c as the instance role's credentials; nil
// serves none (404), as for an instance without a role.
func (s *Server) SetIMDSCredentials(c *Credentials) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.imdsCreds = c
}

// AddVPNConnection adds or replaces (by ID) a VPN connection.
func (s *Server) AddVPNConnection(v VPNConnection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vpns = put(s.vpns, &v, func(x *VPNConnection) string { return x.ID })
}

// AddSubnet adds or replaces a subnet.
func (s *Server) AddSubnet(v Subnet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subnets = put(s.subnets, &v, func(x *Subnet) string { return x.ID })
}

// AddNetworkInterface adds or replaces an ENI.
func (s *Server) AddNetworkInterface(v NetworkInterface) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v.Groups = slices.Clone(v.Groups)
	s.enis = put(s.enis, &v, func(x *NetworkInterface) string { return x.ID })
}

// AddRouteTable adds or replaces a route table.
func (s *Server) AddRouteTable(v RouteTable) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v.Routes = slices.Clone(v.Routes)
	v.Subnets = slices.Clone(v.Subnets)
	v.PropagatingVGWs = slices.Clone(v.PropagatingVGWs)
	s.rtbs = put(s.rtbs, &v, func(x *RouteTable) string { return x.ID })
}

// AddSecurityGroup adds or replaces a security group.
func (s *Server) AddSecurityGroup(v SecurityGroup) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v.Ingress = slices.Clone(v.Ingress)
	v.Egress = slices.Clone(v.Egress)
	s.sgs = put(s.sgs, &v, func(x *SecurityGroup) string { return x.ID })
}

// AddNetworkACL adds or replaces a network ACL.
func (s *Server) AddNetworkACL(v NetworkACL) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v.Entries = slices.Clone(v.Entries)
	v.Subnets = slices.Clone(v.Subnets)
	s.acls = put(s.acls, &v, func(x *NetworkACL) string { return x.ID })
}

// AddInstance adds or replaces an instance.
func (s *Server) AddInstance(v Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v.ENIs = slices.Clone(v.ENIs)
	s.insts = put(s.insts, &v, func(x *Instance) string { return x.ID })
}

func put[T any](list []*T, v *T, id func(*T) string) []*T {
	for i, x := range list {
		if id(x) == id(v) {
			list[i] = v
			return list
		}
	}
	return append(list, v)
}

func find[T any](list []*T, want string, id func(*T) string) *T {
	for _, x := range list {
		if id(x) == want {
			return x
		}
	}
	return nil
}

// SetTunnelStatus sets the telemetry of the tunnel to outside in VPN
// connection vpn: status UP or DOWN, the status message, the accepted
// route count. It reports whether the tunnel exists.
func (s *Server) SetTunnelStatus(vpn string, outside netip.Addr, status, message string, acceptedRoutes int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := find(s.vpns, vpn, func(x *VPNConnection) string { return x.ID })
	if v == nil {
		return false
	}
	for i := range v.Tunnels {
		if v.Tunnels[i].OutsideIP == outside {
			v.Tunnels[i].Status, v.Tunnels[i].StatusMessage, v.Tunnels[i].AcceptedRoutes = status, message, acceptedRoutes
			return true
		}
	}
	return false
}

// RemoveRoute deletes the route to dst from route table rtb (the lab's
// vpc-route-table fault); it reports whether there was one.
func (s *Server) RemoveRoute(rtb string, dst netip.Prefix) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := find(s.rtbs, rtb, func(x *RouteTable) string { return x.ID })
	if t == nil {
		return false
	}
	n := len(t.Routes)
	t.Routes = slices.DeleteFunc(t.Routes, func(r Route) bool { return r.Destination == dst })
	return len(t.Routes) != n
}

// AddRoute adds a route to rtb, replacing one to the same destination.
func (s *Server) AddRoute(rtb string, r Route) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := find(s.rtbs, rtb, func(x *RouteTable) string { return x.ID })
	if t == nil {
		return false
	}
	t.Routes = slices.DeleteFunc(t.Routes, func(x Route) bool { return x.Destination == r.Destination })
	t.Routes = append(t.Routes, r)
	return true
}

// SetPropagation turns route propagation from vgw into rtb on or off.
func (s *Server) SetPropagation(rtb, vgw string, on bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := find(s.rtbs, rtb, func(x *RouteTable) string { return x.ID })
	if t == nil {
		return false
	}
	t.PropagatingVGWs = slices.DeleteFunc(t.PropagatingVGWs, func(g string) bool { return g == vgw })
	if on {
		t.PropagatingVGWs = append(t.PropagatingVGWs, vgw)
	}
	return true
}

// RevokeICMP removes every inbound rule of security group sg that allows
// ICMP (protocol icmp, 1 or -1) from cidr (the lab's drop-icmp-vpc fault);
// it reports whether one was removed. A rule listing several CIDRs loses
// only cidr.
func (s *Server) RevokeICMP(sg string, cidr netip.Prefix) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := find(s.sgs, sg, func(x *SecurityGroup) string { return x.ID })
	if g == nil {
		return false
	}
	removed := false
	var out []Permission
	for _, p := range g.Ingress {
		if p.Protocol == "icmp" || p.Protocol == "1" || p.Protocol == "-1" {
			n := len(p.CIDRs)
			p.CIDRs = slices.DeleteFunc(slices.Clone(p.CIDRs), func(c netip.Prefix) bool { return c == cidr })
			removed = removed || len(p.CIDRs) != n
			if len(p.CIDRs) == 0 {
				continue
			}
		}
		out = append(out, p)
	}
	g.Ingress = out
	return removed
}

// AuthorizeICMP adds an inbound rule to sg allowing all ICMP from cidr.
func (s *Server) AuthorizeICMP(sg string, cidr netip.Prefix) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := find(s.sgs, sg, func(x *SecurityGroup) string { return x.ID })
	if g == nil {
		return false
	}
	g.Ingress = append(g.Ingress, Permission{Protocol: "icmp", FromPort: -1, ToPort: -1, CIDRs: []netip.Prefix{cidr}})
	return true
}

// SetACLEntry adds or replaces (by number and direction) an entry of
// network ACL acl.
func (s *Server) SetACLEntry(acl string, e ACLEntry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := find(s.acls, acl, func(x *NetworkACL) string { return x.ID })
	if a == nil {
		return false
	}
	a.Entries = slices.DeleteFunc(a.Entries, func(x ACLEntry) bool { return x.Number == e.Number && x.Egress == e.Egress })
	a.Entries = append(a.Entries, e)
	return true
}

// SetSourceDestCheck sets an instance's source/destination check (and its
// primary ENI's).
func (s *Server) SetSourceDestCheck(instance string, on bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := find(s.insts, instance, func(x *Instance) string { return x.ID })
	if in == nil {
		return false
	}
	in.SourceDestCheck = on
	for _, e := range s.enis {
		if e.InstanceID == instance {
			e.SourceDestCheck = on
		}
	}
	return true
}

// SetSync makes f run before each EC2 API request is answered, without
// the server's lock held, so that f can bring the state up to date with
// the setters (a lab applying the faults it has on now, LabFault). f may
// run concurrently with itself.
func (s *Server) SetSync(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync = f
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	sync := s.sync
	s.mu.Unlock()
	if sync != nil && !strings.HasPrefix(r.URL.Path, "/latest/") {
		sync()
	}
	if strings.HasPrefix(r.URL.Path, "/latest/") {
		s.serveIMDS(w, r)
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "InvalidRequest", "the EC2 Query API takes POST")
		return
	}
	region, ok := signedRegion(r.Header.Get("Authorization"))
	if !ok {
		writeError(w, http.StatusUnauthorized, "AuthFailure", "AWS was not able to validate the provided access credentials")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	q := query(r.PostForm)
	action := q.get("Action")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Action: action, Region: region, Attempt: attempt(r.Header.Get("Amz-Sdk-Request"))})
	if s.denied[action] || s.denied["*"] {
		writeError(w, http.StatusForbidden, "UnauthorizedOperation", "You are not authorized to perform this operation. User: arn:aws:iam::123456789012:user/test is not authorized to perform: ec2:"+action)
		return
	}
	h, ok := actions[action]
	if !ok {
		writeError(w, http.StatusBadRequest, "InvalidAction", fmt.Sprintf("The action %s is not valid for this web service.", action))
		return
	}
	body, err := h(s, q)
	if err != nil {
		apiErr, ok := err.(*apiError)
		if !ok {
			apiErr = &apiError{status: http.StatusBadRequest, code: "InvalidParameterValue", msg: err.Error()}
		}
		writeError(w, apiErr.status, apiErr.code, apiErr.msg)
		return
	}
	writeXML(w, http.StatusOK, body)
}

// signedRegion extracts the region from a SigV4 Authorization header:
// "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/ec2/aws4_request, …".
func signedRegion(auth string) (string, bool) {
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 Credential=")
	if !ok {
		return "", false
	}
	scope, _, _ := strings.Cut(rest, ",")
	parts := strings.Split(scope, "/")
	if len(parts) != 5 || parts[0] == "" || parts[3] != "ec2" {
		return "", false
	}
	return parts[2], true
}

func (s *Server) serveIMDS(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.URL.Path == "/latest/api/token" {
		if r.Method != http.MethodPut || r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
			http.Error(w, "IMDSv2 token needs PUT with a TTL", http.StatusBadRequest)
			return
		}
		if s.imdsInstance == "" {
			// Off EC2 nothing would answer; a 404 ends the SDK's
			// attempt at once instead of after its timeouts.
			http.NotFound(w, r)
			return
		}
		s.imdsToken = "fake-imds-token"
		w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
		fmt.Fprint(w, s.imdsToken)
		return
	}
	if s.imdsInstance == "" {
		http.NotFound(w, r)
		return
	}
	// IMDSv2 only: a GET without the session token is refused.
	if s.imdsToken == "" || r.Header.Get("X-aws-ec2-metadata-token") != s.imdsToken {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	role := ""
	if s.imdsCreds != nil {
		role = s.imdsCreds.Role
	}
	switch p := strings.TrimPrefix(r.URL.Path, "/latest/"); {
	case p == "meta-data/instance-id":
		fmt.Fprint(w, s.imdsInstance)
	case p == "meta-data/placement/region":
		fmt.Fprint(w, s.imdsRegion)
	case p == "dynamic/instance-identity/document":
		fmt.Fprintf(w, `{"accountId":"123456789012","architecture":"x86_64","availabilityZone":"%sa","imageId":"ami-0123456789abcdef0","instanceId":%q,"instanceType":"t3.micro","pendingTime":"2026-01-01T00:00:00Z","privateIp":"172.31.16.1","region":%q,"version":"2017-09-30"}`,
			s.imdsRegion, s.imdsInstance, s.imdsRegion)
	case (p == "meta-data/iam/security-credentials/" || p == "meta-data/iam/security-credentials") && role != "":
		fmt.Fprint(w, role)
	case role != "" && p == "meta-data/iam/security-credentials/"+role:
		fmt.Fprintf(w, `{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":%q,"SecretAccessKey":%q,"Token":%q,"Expiration":"2100-01-01T00:00:00Z"}`,
			s.imdsCreds.AccessKeyID, s.imdsCreds.SecretAccessKey, s.imdsCreds.Token)
	default:
		http.NotFound(w, r)
	}
}
