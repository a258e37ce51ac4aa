package lab

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// run runs a command with stdin (may be ""), returning its combined output
// in the error when it fails.
func run(ctx context.Context, stdin string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if msg != "" {
			return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
		}
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// ipBatch runs `ip [-n ns] -batch -` with the given lines.
func ipBatch(ctx context.Context, ns string, lines ...string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	return run(ctx, strings.Join(lines, "\n")+"\n", "ip", args...)
}

// nftIn runs `nft -f -` with script in namespace ns.
func nftIn(ctx context.Context, ns, script string) error {
	return run(ctx, script, "ip", "netns", "exec", ns, "nft", "-f", "-")
}
