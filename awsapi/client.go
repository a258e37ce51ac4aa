// Package awsapi reads the AWS side of a Site-to-Site VPN through the EC2
// API (aws-sdk-go-v2): the VPN connection as AWS sees it, for
// `cgw import --vpn-connection-id` and `aws_config: aws:vpn-…`, and the
// VPC resources between the tunnel and a target (its network interface,
// subnet route table, security groups and network ACL) for
// `cgw diagnose --aws`. On EC2 it also checks the gateway's own instance:
// its source/destination check and the on-premises subnets' routes to it.
//
// Credentials come from the SDK's standard chain (environment, shared
// config or profile, IMDSv2 on EC2: config.LoadDefaultConfig). Only
// read-only Describe actions are called (IAMActions). The pre-shared keys
// DescribeVpnConnections returns stay in the awsconf.Connection, whose PSK
// type never prints them.
//
// A Client is safe for concurrent use; Close drops its idle connections.
package awsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
)

// IAMActions are the read-only IAM actions cgw's AWS checks call.
var IAMActions = []string{
	"ec2:DescribeVpnConnections", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:DescribeRouteTables",
	"ec2:DescribeSecurityGroups", "ec2:DescribeNetworkAcls", "ec2:DescribeInstances", "ec2:DescribeInstanceAttribute",
}

// Options configure New.
type Options struct {
	// Region is the VPN connection's region; "" takes the standard
	// chain's (AWS_REGION, the profile), else the instance's from IMDS.
	Region string
	// Endpoint overrides the EC2 endpoint URL (tests); "" is the SDK's,
	// which honours AWS_ENDPOINT_URL_EC2.
	Endpoint string
	// IMDSEndpoint overrides the instance metadata endpoint (tests); ""
	// is the SDK's (AWS_EC2_METADATA_SERVICE_ENDPOINT, else
	// 169.254.169.254). DisableIMDS turns IMDS off, for credentials and
	// the gateway-side checks alike.
	IMDSEndpoint string
	DisableIMDS  bool
	// Logger gets debug lines of the calls made; nil discards them.
	Logger *slog.Logger
}

// Client calls the EC2 API in one region.
type Client struct {
	cfg    aws.Config
	ec2    *ec2.Client
	imds   *imds.Client // nil when disabled
	o      Options
	log    *slog.Logger
	region string
	// transport is the client's own, so that Close can drop its idle
	// connections (and their goroutines).
	transport *http.Transport
}

// Close drops the client's idle connections; the client still works
// afterwards (it dials again). Safe to call twice.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

// imdsTimeout bounds each question to the instance metadata service: off
// EC2 nothing answers, and diagnose must not wait for the SDK's retries.
const imdsTimeout = 2 * time.Second

// callTimeout bounds one HTTP exchange with EC2 or IMDS.
const callTimeout = 20 * time.Second

// New loads the SDK configuration and builds a client for the VPN
// connection's region. It fails with an *AccessError when no region can be
// found; missing credentials only show at the first call (see
// Client.Credentials).
func New(ctx context.Context, o Options) (*Client, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var opts []func(*config.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.IMDSEndpoint != "" {
		opts = append(opts, config.WithEC2IMDSEndpoint(o.IMDSEndpoint))
	}
	if o.DisableIMDS {
		opts = append(opts, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	// The SDK's own log lines (IMDS fallbacks, retries) would land on
	// stderr in the middle of cgw's output.
	opts = append(opts, config.WithRetryMaxAttempts(2), config.WithLogger(logging.Nop{}))

	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, &AccessError{Reason: fmt.Sprintf("loading the AWS SDK configuration: %v", err), Err: err}
	}
	// An HTTP client on a transport of our own, so that Close can drop
	// its idle connections: the SDK's, as configured (AWS_CA_BUNDLE
	// included), cloned; redirects are not followed, as the SDK does.
	var tr *http.Transport
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		tr = bc.GetTransport()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	cfg.HTTPClient = &http.Client{Transport: tr, Timeout: callTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	c := &Client{cfg: cfg, o: o, log: log, transport: tr}
	if !o.DisableIMDS {
		// IMDSv2 only: no fallback to the unauthenticated v1 flow.
		c.imds = imds.NewFromConfig(cfg, func(opt *imds.Options) { opt.EnableFallback = aws.FalseTernary })
	}
	if cfg.Region == "" {
		if r, err := c.instanceRegion(ctx); err == nil && r != "" {
			cfg.Region = r
			c.cfg = cfg
		}
	}
	if cfg.Region == "" {
		c.Close()
		return nil, &AccessError{Reason: "no AWS region: give --region (or AWS_REGION, or region in the profile)"}
	}
	c.region = cfg.Region
	c.ec2 = c.ec2For(cfg.Region)
	return c, nil
}

// ec2For is an EC2 client for region.
func (c *Client) ec2For(region string) *ec2.Client {
	return ec2.NewFromConfig(c.cfg, func(eo *ec2.Options) {
		eo.Region = region
		if c.o.Endpoint != "" {
			eo.BaseEndpoint = aws.String(c.o.Endpoint)
		}
	})
}

// Region is the region the client calls.
func (c *Client) Region() string { return c.region }

// Credentials checks that the standard chain yields credentials, without
// calling EC2; it returns an *AccessError naming the IAM actions when not.
func (c *Client) Credentials(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*imdsTimeout)
	defer cancel()
	if _, err := c.cfg.Credentials.Retrieve(ctx); err != nil {
		return &AccessError{Reason: "no AWS credentials (environment, shared config or profile, or an instance role)", Err: err}
	}
	return nil
}

// instanceRegion asks IMDS (v2) for the instance's region.
func (c *Client) instanceRegion(ctx context.Context) (string, error) {
	if c.imds == nil {
		return "", errors.New("IMDS disabled")
	}
	ctx, cancel := context.WithTimeout(ctx, imdsTimeout)
	defer cancel()
	out, err := c.imds.GetRegion(ctx, &imds.GetRegionInput{})
	if err != nil {
		return "", fmt.Errorf("asking the instance metadata service for the region: %w", err)
	}
	return out.Region, nil
}

// instanceID asks IMDS (v2) for this instance's ID; "" and an error off
// EC2.
func (c *Client) instanceID(ctx context.Context) (string, error) {
	if c.imds == nil {
		return "", errors.New("IMDS disabled")
	}
	ctx, cancel := context.WithTimeout(ctx, imdsTimeout)
	defer cancel()
	out, err := c.imds.GetMetadata(ctx, &imds.GetMetadataInput{Path: "instance-id"})
	if err != nil {
		return "", fmt.Errorf("asking the instance metadata service for the instance id: %w", err)
	}
	defer out.Content.Close()
	b, err := io.ReadAll(io.LimitReader(out.Content, 256))
	if err != nil {
		return "", fmt.Errorf("reading the instance id from the instance metadata service: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// AccessError says why AWS cannot be read: no credentials, no
// permission, no region. Its message names the read-only IAM actions that
// the reading needs.
type AccessError struct {
	Reason string
	// Actions are the IAM actions needed; nil means IAMActions.
	Actions []string
	Err     error
}

func (e *AccessError) Error() string {
	actions := e.Actions
	if actions == nil {
		actions = IAMActions
	}
	return e.Reason + "; reading AWS needs the read-only IAM actions " + strings.Join(actions, ", ")
}

func (e *AccessError) Unwrap() error { return e.Err }

// authCodes are the EC2 error codes of a caller that may not make the call.
var authCodes = map[string]bool{
	"UnauthorizedOperation": true, "AuthFailure": true, "AccessDenied": true, "AccessDeniedException": true,
	"InvalidClientTokenId": true, "SignatureDoesNotMatch": true, "OptInRequired": true, "Blocked": true,
	"UnrecognizedClientException": true, "ExpiredToken": true, "RequestExpired": true,
}

// asSkip turns an error of call into an *AccessError when it means missing
// credentials or permission, and returns it unchanged otherwise.
func asSkip(call string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) && authCodes[ae.ErrorCode()] {
		return &AccessError{Reason: fmt.Sprintf("ec2:%s not permitted (%s)", call, ae.ErrorCode()), Err: err}
	}
	if strings.Contains(err.Error(), "failed to retrieve credentials") || strings.Contains(err.Error(), "failed to refresh cached credentials") {
		return &AccessError{Reason: "no AWS credentials (environment, shared config or profile, or an instance role)", Err: err}
	}
	return fmt.Errorf("calling ec2:%s: %w", call, err)
}
