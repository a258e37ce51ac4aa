package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/gateway/awsconf"
)

// finishRoot adds what the whole tree shares once its commands are in:
// --version, the hidden gen-docs (only with -tags gendocs) and flag value
// completion, last so that it sees every flag.
func finishRoot(root *cobra.Command) {
	setRootVersion(root)
	root.AddCommand(docsCommands()...)
	registerCompletions(root)
}

// flagValues lists the values shell completion offers for flags that take
// one of a fixed set, whichever command defines them.
func flagValues() map[string][]string {
	var formats []string
	for _, f := range awsconf.Formats {
		formats = append(formats, string(f))
	}
	return map[string][]string{
		"dataplane":  {string(gateway.DataplaneAuto), string(gateway.DataplaneKernel), string(gateway.DataplaneLibIPsec)},
		"format":     formats, // cgw import --format
		"aws-format": formats,
		"log-format": {"text", "json"},
		"log-level":  {"debug", "info", "warn", "error"},
	}
}

// fileFlagExts lists flags naming a file, completed with files of these
// extensions (none: any file).
func fileFlagExts() map[string][]string {
	return map[string][]string{
		"config":     {"yaml", "yml"},
		"aws-config": nil,
	}
}

// registerCompletions walks the command tree once and registers value
// completion for every flag in flagValues and fileFlagExts, so
// `cgw run --dataplane <TAB>` offers auto, kernel and libipsec. The
// `completion` command itself is cobra's (bash, zsh, fish, powershell).
func registerCompletions(root *cobra.Command) {
	values, files := flagValues(), fileFlagExts()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if vs, ok := values[f.Name]; ok {
				// The error only says the flag is missing or already
				// registered; neither can happen for a flag just visited.
				_ = c.RegisterFlagCompletionFunc(f.Name, cobra.FixedCompletions(vs, cobra.ShellCompDirectiveNoFileComp))
			}
			if exts, ok := files[f.Name]; ok {
				if len(exts) > 0 {
					_ = c.MarkFlagFilename(f.Name, exts...)
				} else {
					_ = c.MarkFlagFilename(f.Name)
				}
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
