package routes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/vishvananda/netns"

	"github.com/cgw-project/cgw/internal/netnsrun"
)

// runNFT runs the nft command in ns with stdin and returns its stdout. The
// error carries the arguments and nft's own message.
func runNFT(ctx context.Context, ns netns.NsHandle, stdin string, args ...string) (string, error) {
	path, err := exec.LookPath("nft")
	if err != nil {
		return "", fmt.Errorf("nft command not found (Debian package nftables): %w", err)
	}
	var stdout, stderr bytes.Buffer
	err = netnsrun.Run(ns, func() error {
		cmd := exec.CommandContext(ctx, path, args...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		return cmd.Run()
	})
	if err != nil {
		return "", &nftError{args: args, err: err, msg: strings.TrimSpace(stderr.String())}
	}
	return stdout.String(), nil
}

// nftError is a failed nft run.
type nftError struct {
	args []string
	err  error
	msg  string
}

func (e *nftError) Error() string {
	return fmt.Sprintf("running nft %s: %v: %s", strings.Join(e.args, " "), e.err, e.msg)
}

func (e *nftError) Unwrap() error { return e.err }

// nftNoTable reports whether err is nft saying the table does not exist.
func nftNoTable(err error) bool {
	var ne *nftError
	return errors.As(err, &ne) && strings.Contains(ne.msg, "No such file or directory")
}

// listNFT returns "nft list table inet cgw", or "" when the table does not
// exist.
func listNFT(ctx context.Context, ns netns.NsHandle) (string, error) {
	out, err := runNFT(ctx, ns, "", "list", "table", "inet", NFTTable)
	if nftNoTable(err) {
		return "", nil
	}
	return out, err
}

// sameListing compares two nft listings ignoring trailing blank space.
func sameListing(a, b string) bool {
	norm := func(s string) string {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		for i, l := range lines {
			lines[i] = strings.TrimRight(l, " \t")
		}
		return strings.Join(lines, "\n")
	}
	return norm(a) == norm(b)
}

// applyNFT makes table inet cgw equal to listing ("" removes it), in one
// nft transaction, and only when it differs.
//
// Equivalent to: nft -f - <<< 'table inet cgw; delete table inet cgw; table inet cgw { … }'
func applyNFT(ctx context.Context, ns netns.NsHandle, listing string) (changed bool, err error) {
	cur, err := listNFT(ctx, ns)
	if err != nil {
		return false, err
	}
	if sameListing(cur, listing) {
		return false, nil
	}
	if listing == "" {
		_, err = runNFT(ctx, ns, "", "delete", "table", "inet", NFTTable)
		if nftNoTable(err) {
			err = nil
		}
		return err == nil, err
	}
	_, err = runNFT(ctx, ns, nftScript(listing), "-f", "-")
	return err == nil, err
}
