package awsconf

import (
	"bytes"
	"errors"
)

// Detect names the format of data, or returns an *UnsupportedVendorError
// for another vendor's AWS download, or a *ParseError when data is no AWS
// VPN configuration cgw knows. Stub: to be refined.
func Detect(name string, data []byte) (Format, error) {
	t := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\ufeff")), " \t\r\n")
	switch {
	case len(t) == 0:
		return "", &ParseError{File: name, Err: errors.New("empty file")}
	case t[0] == '{' || t[0] == '[':
		return FormatJSON, nil
	case t[0] == '<':
		return FormatXML, nil
	}
	return FormatGeneric, nil
}
