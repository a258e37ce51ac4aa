package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time by the Makefile:
//
//	-ldflags "-X main.version=$(git describe --tags --always --dirty)"
//
// Left empty, the version comes from the build's VCS stamp (buildInfo).
var version string

// buildInfo says which cgw this is. Its JSON is the stable output of
// `cgw version --json`.
type buildInfo struct {
	Version  string `json:"version"`            // git describe, the module version, or the commit
	Commit   string `json:"commit,omitempty"`   // full VCS revision, when the build recorded it
	Time     string `json:"time,omitempty"`     // commit time (RFC 3339), when recorded
	Modified bool   `json:"modified,omitempty"` // the tree had uncommitted changes
	Go       string `json:"go"`                 // Go toolchain that built it
	Platform string `json:"platform"`           // GOOS/GOARCH
}

// readBuildInfo combines the ldflags version with what the Go toolchain
// stamped into the binary: a `go build` inside the git tree records the
// revision, `go install …@v1.2.3` records the module version.
func readBuildInfo(ldVersion string, bi *debug.BuildInfo) buildInfo {
	info := buildInfo{Version: ldVersion, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		if info.Version == "" {
			info.Version = "unknown"
		}
		return info
	}
	if bi.GoVersion != "" {
		info.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	if info.Version != "" {
		return info
	}
	switch {
	case bi.Main.Version != "" && bi.Main.Version != "(devel)":
		info.Version = bi.Main.Version
	case info.Commit != "":
		info.Version = info.Commit[:min(12, len(info.Commit))]
		if info.Modified {
			info.Version += "-dirty"
		}
	default:
		info.Version = "unknown"
	}
	return info
}

// currentBuildInfo is readBuildInfo for the running binary.
func currentBuildInfo() buildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return readBuildInfo(version, bi)
}

// String is the one line `cgw version` and `cgw --version` print: the
// version, the commit when the version does not already name it, Go and
// the platform.
func (b buildInfo) String() string {
	s := "cgw " + b.Version
	if len(b.Commit) >= 12 && !strings.Contains(b.Version, b.Commit[:7]) {
		s += " (" + b.Commit[:12] + ")"
	}
	return s + " " + b.Go + " " + b.Platform
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print cgw's version (--json: version, commit, Go, platform)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := currentBuildInfo()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), info)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the version as JSON")
	return cmd
}

// setRootVersion makes `cgw --version` print the same line as `cgw version`.
func setRootVersion(root *cobra.Command) {
	info := currentBuildInfo()
	root.Version = info.Version
	root.SetVersionTemplate(info.String() + "\n")
}
