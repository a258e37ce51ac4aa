package lab

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/strongswan/govici/vici"

	"github.com/cgw-project/cgw/internal/testenv"
)

func TestCheckDataplane(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		err            bool
	}{
		{"default", "", DataplaneLibIPsec, false},
		{"libipsec", "libipsec", DataplaneLibIPsec, false},
		{"kernel", "kernel", DataplaneKernel, false},
		{"auto is cgw's, not the lab's", "auto", "", true},
		{"case matters", "Kernel", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkDataplane(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("checkDataplane(%q) error = %v, want error %v", tc.in, err, tc.err)
			}
			if err != nil && !strings.Contains(err.Error(), "dataplane") {
				t.Errorf("error %q does not name the field", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestStrongswanConfDataplane(t *testing.T) {
	for _, tc := range []struct {
		name          string
		h             Host
		installRoutes bool
		dp            string
		wantLoad      string
		wantRoutes    string
	}{
		{"libipsec aws", AWS, true, DataplaneLibIPsec, pluginsLibIPsec, "yes"},
		{"libipsec cgw off", CGW, false, DataplaneLibIPsec, pluginsLibIPsec, "no"},
		{"kernel aws", AWS, true, DataplaneKernel, pluginsKernel, "no"},
		{"kernel cgw ignores install routes", CGW, true, DataplaneKernel, pluginsKernel, "no"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := strongswanConf(tc.h, tc.installRoutes, tc.dp)
			for _, want := range []string{"\tload = " + tc.wantLoad + "\n", "\tinstall_routes = " + tc.wantRoutes + "\n"} {
				if !strings.Contains(conf, want) {
					t.Errorf("strongswan.conf lacks %q:\n%s", want, conf)
				}
			}
			if tc.dp == DataplaneKernel && strings.Contains(conf, "kernel-libipsec") {
				t.Errorf("kernel mode loads kernel-libipsec:\n%s", conf)
			}
		})
	}
}

func TestAWSConnKernel(t *testing.T) {
	st := &state{IKEVersion: 2, Proposals: DefaultProposals(), ESPProposals: DefaultESPProposals(), Dataplane: DataplaneKernel}
	tun := tunnel{Number: 2, AWSOutside: Tunnel2Outside}
	child := func(m *vici.Message) map[string]any {
		c, _ := m.Get("tunnel2").(*vici.Message)
		ch, _ := c.Get("children").(*vici.Message)
		x, _ := ch.Get("tunnel2").(*vici.Message)
		got := map[string]any{}
		for _, k := range []string{"if_id_in", "if_id_out", "updown", "local_ts", "remote_ts"} {
			if v := x.Get(k); v != nil {
				got[k] = v
			}
		}
		return got
	}
	want := map[string]any{"if_id_in": "2", "if_id_out": "2", "updown": "/bin/bash /run/updown.sh",
		"local_ts": []string{"0.0.0.0/0"}, "remote_ts": []string{"0.0.0.0/0"}}
	if diff := cmp.Diff(want, child(awsConn(st, tun, "/bin/bash /run/updown.sh"))); diff != "" {
		t.Errorf("kernel-mode child (-want +got):\n%s", diff)
	}
	st.Dataplane = DataplaneLibIPsec
	want = map[string]any{"local_ts": []string{"0.0.0.0/0"}, "remote_ts": []string{"0.0.0.0/0"}}
	if diff := cmp.Diff(want, child(awsConn(st, tun, ""))); diff != "" {
		t.Errorf("libipsec child (-want +got):\n%s", diff)
	}
}

func TestAWSUpdownScript(t *testing.T) {
	s := awsUpdownScript("/usr/sbin/ip", "/usr/bin/flock")
	for _, want := range []string{
		"ip=/usr/sbin/ip\n",
		"/usr/bin/flock 9\n",
		`$ip route replace 172.31.16.0/20 dev xfrm$t`,
		`$ip route replace blackhole 172.31.16.0/20`,
		`echo $((c + 1)) >"$dir/tunnel$n"`,
		"if [ -e /run/bgp.json ]; then\n\techo \"cgwlab updown: $PLUTO_VERB $PLUTO_CONNECTION: 172.31.16.0/20 is left to BGP\"\n\texit 0\nfi\nfor t in 1 2",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("updown script lacks %q:\n%s", want, s)
		}
	}
	if s := awsUpdownScript("/usr/sbin/ip", ""); strings.Contains(s, "flock") {
		t.Errorf("without flock the script still calls it:\n%s", s)
	}
}

// TestAWSUpdownScriptCounts runs the updown script (bash, a stand-in for
// ip) through what charon does: it runs it when a CHILD_SA comes up or
// goes, never for a rekey, so after an IKE rekey the down-client of a
// tunnel carries another PLUTO_UNIQUEID than its up-client. The route
// follows the lowest-numbered tunnel with an SA up, duplicates included.
func TestAWSUpdownScriptCounts(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	d := t.TempDir()
	ipLog := filepath.Join(d, "ip.log")
	fakeIP := filepath.Join(d, "ip")
	if err := os.WriteFile(fakeIP, []byte("#!/bin/sh\necho \"$*\" >>"+ipLog+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	s := awsUpdownScript(fakeIP, "")
	s = strings.ReplaceAll(s, "/run/"+awsUpdownDir, filepath.Join(d, awsUpdownDir))
	s = strings.ReplaceAll(s, "/run/"+bgpRecordFile, filepath.Join(d, bgpRecordFile))
	script := filepath.Join(d, "updown.sh")
	if err := os.WriteFile(script, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	last := func() string {
		b, _ := os.ReadFile(ipLog)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		return lines[len(lines)-1]
	}
	for i, step := range []struct {
		verb, conn, uniqueID, want string
	}{
		{"up-client", "tunnel1", "1", "route replace 172.31.16.0/20 dev xfrm1"},
		{"up-client", "tunnel2", "2", "route replace 172.31.16.0/20 dev xfrm1"},
		// tunnel 1's IKE_SA was rekeyed (id 3), its CHILD_SA moved along
		// without the script; now it goes.
		{"down-client", "tunnel1", "3", "route replace 172.31.16.0/20 dev xfrm2"},
		{"up-client", "tunnel1", "4", "route replace 172.31.16.0/20 dev xfrm1"},
		{"up-client", "tunnel1", "5", "route replace 172.31.16.0/20 dev xfrm1"}, // a duplicate
		{"down-client", "tunnel1", "4", "route replace 172.31.16.0/20 dev xfrm1"},
		{"down-client", "tunnel1", "5", "route replace 172.31.16.0/20 dev xfrm2"},
		{"down-client", "tunnel2", "2", "route replace blackhole 172.31.16.0/20"},
	} {
		cmd := exec.Command(bash, script)
		cmd.Env = []string{"PLUTO_VERB=" + step.verb, "PLUTO_CONNECTION=" + step.conn, "PLUTO_UNIQUEID=" + step.uniqueID, "PATH=/usr/bin:/bin"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("step %d (%s %s): %v\n%s", i+1, step.verb, step.conn, err, out)
		}
		if got := last(); got != step.want {
			t.Errorf("step %d (%s %s #%s): ip %s, want ip %s", i+1, step.verb, step.conn, step.uniqueID, got, step.want)
		}
	}
}

// TestKernelModeWithoutXFRM runs kernel-mode Up, without and with BGP,
// where the kernel has no XFRM interfaces (this project's build machine):
// it must fail naming the kernel options and leave nothing behind. On a
// kernel that has them the lab comes up, and the test checks the AWS
// side's interfaces and cgw.yaml instead. internal/vmtest runs the kernel
// mode end to end in a VM.
func TestKernelModeWithoutXFRM(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon")
	for _, tc := range []struct {
		name string
		bgp  bool
	}{{"static", false}, {"bgp", true}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.bgp {
				if err := checkFRR(); err != nil {
					if os.Getenv("CI") == "true" {
						t.Fatal(err)
					}
					t.Skip(err)
				}
			}
			name := testName(t)
			l, err := Up(testCtx(t, 30*time.Second), Options{Name: name, Dataplane: DataplaneKernel, BGP: tc.bgp, Logf: t.Logf})
			if err != nil {
				t.Logf("Up: %v", err)
				if !strings.Contains(err.Error(), "CONFIG_XFRM_INTERFACE") {
					t.Errorf("kernel-mode Up failed without naming the kernel options: %v", err)
				}
				checkGone(t, name, filepath.Join(DefaultBaseDir, name), nil)
				return
			}
			t.Cleanup(func() { _ = l.Close() })
			out, err := l.Command(testCtx(t, 5*time.Second), AWS, "ip", "-d", "link", "show", "type", "xfrm").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "if_id 0x1") || !strings.Contains(string(out), "if_id 0x2") {
				t.Errorf("AWS side's XFRM interfaces: %v\n%s", err, out)
			}
			conf, _ := os.ReadFile(l.ConfigFile())
			if !strings.Contains(string(conf), "dataplane: kernel") {
				t.Errorf("cgw.yaml does not say dataplane: kernel:\n%s", conf)
			}
			if got := strings.Contains(string(conf), "\nremote_networks:"); got == tc.bgp {
				t.Errorf("cgw.yaml lists remote_networks = %v, want %v (BGP learns them):\n%s", got, !tc.bgp, conf)
			}
			st, err := l.Status(testCtx(t, 5*time.Second))
			if err != nil || st.AWSRoute != "blackhole 172.31.16.0/20" {
				t.Errorf("AWS route before any tunnel = %q (%v), want the blackhole", st.AWSRoute, err)
			}
		})
	}
}
