package ike

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cgw-project/cgw/gateway/awsconf"
)

// strongSwan keywords for the AWS API's algorithm names.
var (
	encKeyword = map[string]string{
		"AES128": "aes128", "AES256": "aes256",
		"AES128-GCM-16": "aes128gcm16", "AES256-GCM-16": "aes256gcm16",
	}
	integKeyword = map[string]string{
		"SHA1": "sha1", "SHA2-256": "sha256", "SHA2-384": "sha384", "SHA2-512": "sha512",
	}
	dhKeyword = map[int]string{
		2: "modp1024", 5: "modp1536", 14: "modp2048", 15: "modp3072", 16: "modp4096",
		17: "modp6144", 18: "modp8192", 19: "ecp256", 20: "ecp384", 21: "ecp521",
		22: "modp1024s160", 23: "modp2048s224", 24: "modp2048s256",
	}
)

// Preference orders, strongest (and for DH, cheap and strong) first.
var (
	encOrder   = []string{"AES256-GCM-16", "AES128-GCM-16", "AES256", "AES128"}
	integOrder = []string{"SHA2-512", "SHA2-384", "SHA2-256", "SHA1"}
	dhOrder    = []int{20, 19, 21, 16, 15, 14, 24, 18, 17, 23, 5, 22, 2}
)

// defaultDH is the DH list offered for AWS's default tunnel options
// (ProfileMinimum): strong groups that are cheap enough to compute. The
// file's own groups are added to it; the slow and the weak groups AWS also
// allows (17, 18, 22–24, 2) are offered only when the file names them.
var defaultDH = []int{20, 19, 21, 16, 15, 14}

// IKEv1 proposals carry one algorithm of each kind (strongSwan uses only
// the first of each in an IKEv1 proposal), so every combination is a
// proposal of its own; the IKEv1 defaults are kept small for that reason,
// and IKEv1 has no AES-GCM for IKE.
var (
	v1DefaultEnc   = []string{"AES256", "AES128"}
	v1DefaultInteg = []string{"SHA2-256", "SHA1"}
	v1DefaultDH    = []int{20, 19, 14}
)

// algSets are the algorithm sets of one phase, in AWS API spelling.
type algSets struct {
	enc, integ []string
	dh         []int
}

// chooseSets returns the sets to offer. With ProfileTunnelOptions they are
// exactly the file's (AWS's allowed set where the file gives none); with
// ProfileMinimum the file shows only AWS's sample profile, so the sets are
// def (AWS's defaults, trimmed to a sensible strong list) plus whatever
// the file names. file.dh first keeps the file's groups ahead of the
// others instead of ordering them by strength.
func chooseSets(profile awsconf.Profile, file, def algSets, allowedDH []int, fileDHFirst bool) (algSets, error) {
	for _, e := range file.enc {
		if _, ok := encKeyword[e]; !ok {
			return algSets{}, fmt.Errorf("encryption %q: not an AWS algorithm", e)
		}
	}
	for _, i := range file.integ {
		if _, ok := integKeyword[i]; !ok {
			return algSets{}, fmt.Errorf("integrity %q: not an AWS algorithm", i)
		}
	}
	for _, g := range file.dh {
		if _, ok := dhKeyword[g]; !ok {
			return algSets{}, fmt.Errorf("dh group %d: not an AWS group", g)
		}
	}
	var s algSets
	switch profile {
	case awsconf.ProfileTunnelOptions:
		s = file
		if len(s.enc) == 0 {
			s.enc = awsconf.Encryptions
		}
		if len(s.integ) == 0 {
			s.integ = awsconf.Integrities
		}
		if len(s.dh) == 0 {
			s.dh = allowedDH
		}
	case awsconf.ProfileMinimum, "":
		s = algSets{
			enc:   union(def.enc, file.enc),
			integ: union(def.integ, file.integ),
			dh:    union(def.dh, file.dh),
		}
	default:
		return algSets{}, fmt.Errorf("profile %q: unknown", profile)
	}
	s.enc = ordered(s.enc, encOrder)
	s.integ = ordered(s.integ, integOrder)
	if fileDHFirst && len(file.dh) > 0 {
		s.dh = union(ordered(file.dh, dhOrder), ordered(s.dh, dhOrder))
	} else {
		s.dh = ordered(s.dh, dhOrder)
	}
	return s, nil
}

// ikeProposals builds one IKE proposal per encryption, strongest first,
// each with every integrity (as PRF for GCM) and every DH group:
// "aes256gcm16-prfsha512-…-ecp384-…", "aes256-sha512-…-ecp384-…".
func ikeProposals(s algSets) []string {
	var out []string
	for _, e := range s.enc {
		parts := []string{encKeyword[e]}
		for _, i := range s.integ {
			if awsconf.IsGCM(e) {
				parts = append(parts, "prf"+integKeyword[i])
			} else {
				parts = append(parts, integKeyword[i])
			}
		}
		for _, g := range s.dh {
			parts = append(parts, dhKeyword[g])
		}
		out = append(out, strings.Join(parts, "-"))
	}
	return out
}

// espProposals builds one ESP proposal per encryption, strongest first:
// GCM without integrity, CBC with every integrity, and the PFS groups
// (none: no PFS).
func espProposals(s algSets) []string {
	var out []string
	for _, e := range s.enc {
		parts := []string{encKeyword[e]}
		if !awsconf.IsGCM(e) {
			for _, i := range s.integ {
				parts = append(parts, integKeyword[i])
			}
		}
		for _, g := range s.dh {
			parts = append(parts, dhKeyword[g])
		}
		out = append(out, strings.Join(parts, "-"))
	}
	return out
}

// ikeV1Proposals builds one IKEv1 proposal per combination, strongest
// first: "aes256-sha256-ecp384", … GCM is left out (not available for
// IKEv1's IKE SA).
func ikeV1Proposals(s algSets) ([]string, error) {
	var out []string
	for _, e := range s.enc {
		if awsconf.IsGCM(e) {
			continue
		}
		for _, i := range s.integ {
			for _, g := range s.dh {
				out = append(out, encKeyword[e]+"-"+integKeyword[i]+"-"+dhKeyword[g])
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("encryption %s: IKEv1 cannot use AES-GCM for IKE", strings.Join(s.enc, ","))
	}
	return out, nil
}

// espV1Proposals builds one ESP proposal per combination for IKEv1. Quick
// Mode sends a single KE, for the first proposal's group, and cannot
// retry with another, so the DH group is the outer loop: every cipher
// with the first group comes before any other group.
func espV1Proposals(s algSets) []string {
	var ciphers []string
	for _, e := range s.enc {
		if awsconf.IsGCM(e) {
			ciphers = append(ciphers, encKeyword[e])
			continue
		}
		for _, i := range s.integ {
			ciphers = append(ciphers, encKeyword[e]+"-"+integKeyword[i])
		}
	}
	if len(s.dh) == 0 {
		return ciphers
	}
	var out []string
	for _, g := range s.dh {
		for _, c := range ciphers {
			out = append(out, c+"-"+dhKeyword[g])
		}
	}
	return out
}

// union returns a's elements followed by b's that a lacks.
func union[T comparable](a, b []T) []T {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// ordered returns set's distinct elements in pref's order; elements pref
// lacks keep their relative order at the end.
func ordered[T comparable](set, pref []T) []T {
	var out []T
	for _, p := range pref {
		if slices.Contains(set, p) && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	for _, v := range set {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
