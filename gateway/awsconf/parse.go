package awsconf

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// maxFileSize bounds what Parse reads; AWS's files are a few tens of KiB.
const maxFileSize = 4 << 20

// ParseReader reads r (at most 4 MiB) and parses it like Parse.
func ParseReader(name string, r io.Reader) (*Connection, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, &ParseError{File: name, Err: fmt.Errorf("reading: %w", err)}
	}
	if len(data) > maxFileSize {
		return nil, errorf(name, 0, 0, "", "larger than %d bytes: not an AWS VPN configuration file", maxFileSize)
	}
	return Parse(name, data)
}

// Parse detects the format of data and parses it. name is used in errors
// (usually the file's path). The returned Connection has passed Validate.
func Parse(name string, data []byte) (*Connection, error) {
	return ParseWith(name, data, "", ParseOptions{})
}

// ParseFormat parses data as format f, without detection.
func ParseFormat(name string, data []byte, f Format) (*Connection, error) {
	return ParseWith(name, data, f, ParseOptions{})
}

// ParseOptions change what ParseWith accepts. The zero value is AWS's rules.
type ParseOptions struct {
	// LabShortLifetimes accepts phase 1 and phase 2 lifetimes down to
	// LabMinLifetimeS and rekey margins down to 1 s, below AWS's minimums
	// (900 s and 60 s), so that a lab can rekey every few tens of seconds.
	// AWS refuses such values, so no real file needs it; the Connection
	// records it (LabShortLifetimes) and `cgw import` shows it.
	LabShortLifetimes bool
}

// ParseWith parses data as format f ("" detects it) under o.
func ParseWith(name string, data []byte, f Format, o ParseOptions) (*Connection, error) {
	if f == "" {
		var err error
		if f, err = Detect(name, data); err != nil {
			return nil, err
		}
	}
	var parse func(string, []byte) (*Connection, error)
	switch f {
	case FormatXML:
		parse = parseXML
	case FormatJSON:
		parse = func(name string, data []byte) (*Connection, error) { return parseJSON(name, data, o) }
	case FormatGeneric:
		parse = parseGeneric
	case FormatWindows:
		parse = parseWindows
	case FormatStrongswan:
		parse = parseStrongswan
	case FormatOpenswan:
		parse = parseOpenswan
	case FormatVyatta:
		parse = parseVyatta
	default:
		return nil, errorf(name, 0, 0, "format", "unknown format %q (known: %v)", f, Formats)
	}
	c, err := parse(name, data)
	if err != nil {
		return nil, err
	}
	c.Format = f
	c.LabShortLifetimes = o.LabShortLifetimes
	return finish(c, name)
}

// ParseFormatName maps a --format flag value to a Format.
func ParseFormatName(s string) (Format, error) {
	for _, f := range Formats {
		if strings.EqualFold(s, string(f)) {
			return f, nil
		}
	}
	switch strings.ToLower(s) {
	case "libreswan":
		return FormatOpenswan, nil
	case "vyos":
		return FormatVyatta, nil
	case "vendor-agnostic", "vendor_agnostic":
		return FormatGeneric, nil
	}
	return "", fmt.Errorf("unknown format %q (known: %v)", s, Formats)
}

// textLines splits a text download into lines, numbered from 1 by index+1.
// It removes a UTF-8 BOM and carriage returns, turns non-breaking spaces
// and tabs into spaces, and blanks markdown image lines ("![…](…)") that
// documentation copies carry, so that line numbers stay those of the file.
func textLines(data []byte) []string {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	s := strings.NewReplacer("\r", "", "\u00a0", " ", "\t", " ").Replace(string(data))
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "![") && strings.Contains(t, "](") {
			lines[i] = ""
		}
	}
	return lines
}
