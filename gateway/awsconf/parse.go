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
	f, err := Detect(name, data)
	if err != nil {
		return nil, err
	}
	return ParseFormat(name, data, f)
}

// ParseFormat parses data as format f, without detection.
func ParseFormat(name string, data []byte, f Format) (*Connection, error) {
	var parse func(string, []byte) (*Connection, error)
	switch f {
	case FormatXML:
		parse = parseXML
	case FormatJSON:
		parse = parseJSON
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
