package awsconf

import "errors"

// parseWindows parses the windows format. Stub: to be written.
func parseWindows(name string, data []byte) (*Connection, error) {
	return nil, &ParseError{File: name, Err: errors.New("the windows format is not supported yet")}
}
