package diag

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgw-project/cgw/internal/fileread"
)

// echoPcap is a pcap of n ICMP echo requests.
func echoPcap(n int) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.LittleEndian, []uint32{0xa1b2c3d4})
	_ = binary.Write(&b, binary.LittleEndian, []uint16{2, 4})
	_ = binary.Write(&b, binary.LittleEndian, []uint32{0, 0, 65535, 1})
	pkt := append(make([]byte, 12), 0x08, 0x00, // ethernet, IPv4
		0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 192, 0, 2, 1, 198, 51, 100, 1, // IPv4
		8, 0, 0, 0, 0, 1, 0, 1) // echo request
	for i := range n {
		_ = binary.Write(&b, binary.LittleEndian, []uint32{uint32(i), 0, uint32(len(pkt)), uint32(len(pkt))})
		b.Write(pkt)
	}
	return b.Bytes()
}

func TestReadCaptureBounds(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.pcap")
	if err := os.WriteFile(ok, echoPcap(3), 0o600); err != nil {
		t.Fatal(err)
	}
	ps, err := ReadCapture(context.Background(), ok)
	if err != nil || len(ps) != 3 {
		t.Fatalf("ReadCapture: %d packets, %v", len(ps), err)
	}
	many := filepath.Join(dir, "many.pcap")
	if err := os.WriteFile(many, echoPcap(MaxCapturePackets+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCapture(context.Background(), many); err == nil || !strings.Contains(err.Error(), "more than 100000 ICMP, ESP and IKE packets") || !strings.Contains(err.Error(), many) {
		t.Errorf("too many packets: %v", err)
	}
	if _, err := ReadCapture(context.Background(), "/dev/zero"); !errors.Is(err, fileread.ErrNotRegular) {
		t.Errorf("/dev/zero: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ReadCapture(ctx, ok); err == nil {
		t.Error("a cancelled read succeeded")
	}
}
