//go:build !gendocs

package main

import "github.com/spf13/cobra"

// docsCommands is empty in the cgw that ships; see gendocs.go.
func docsCommands() []*cobra.Command { return nil }
