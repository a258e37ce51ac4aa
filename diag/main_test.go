package diag

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"testing"
)

// streamEnv makes the test binary act as `cgw capture --json` on the
// interface it names, so Collect's receiver can be tested end to end.
const streamEnv = "DIAG_TEST_STREAM_IFACE"

func TestMain(m *testing.M) {
	if iface := os.Getenv(streamEnv); iface != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		err := StreamJSON(ctx, os.Stdout, os.Stderr, iface, CaptureOptions{})
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
