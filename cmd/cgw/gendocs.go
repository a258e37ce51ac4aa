//go:build gendocs

package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// docsCommands adds the hidden gen-docs command. It exists only in a
// binary built with -tags gendocs (the Makefile's docs target), so the
// cgw that ships does not carry cobra/doc and its markdown renderer.
func docsCommands() []*cobra.Command { return []*cobra.Command{newGenDocsCmd()} }

func newGenDocsCmd() *cobra.Command {
	var manDir, completionDir string
	cmd := &cobra.Command{
		Use:    "gen-docs --man DIR --completion DIR",
		Short:  "Write cgw's man pages and shell completion scripts (for packaging)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root := cmd.Root()
			root.DisableAutoGenTag = true
			if manDir != "" {
				if err := os.MkdirAll(manDir, 0o755); err != nil {
					return fmt.Errorf("gen-docs: %w", err)
				}
				// The date comes from SOURCE_DATE_EPOCH when set, so the
				// pages of one commit are the same on every build.
				header := &doc.GenManHeader{Title: "CGW", Section: "1", Source: "cgw " + currentBuildInfo().Version, Manual: "cgw manual"}
				if err := doc.GenManTree(root, header, manDir); err != nil {
					return fmt.Errorf("gen-docs: man pages in %s: %w", manDir, err)
				}
			}
			if completionDir != "" {
				if err := os.MkdirAll(completionDir, 0o755); err != nil {
					return fmt.Errorf("gen-docs: %w", err)
				}
				for name, gen := range map[string]func(string) error{
					"cgw.bash": func(p string) error { return root.GenBashCompletionFileV2(p, true) },
					"_cgw":     root.GenZshCompletionFile,
					"cgw.fish": func(p string) error { return root.GenFishCompletionFile(p, true) },
				} {
					if err := gen(filepath.Join(completionDir, name)); err != nil {
						return fmt.Errorf("gen-docs: completion %s: %w", name, err)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&manDir, "man", "", "directory for the man pages (cgw.1, cgw-run.1, …)")
	cmd.Flags().StringVar(&completionDir, "completion", "", "directory for cgw.bash, _cgw (zsh) and cgw.fish")
	return cmd
}
