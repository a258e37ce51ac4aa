package awsconf

import "errors"

// parseStrongswan parses the strongswan format. Stub: to be written.
func parseStrongswan(name string, data []byte) (*Connection, error) {
	return nil, &ParseError{File: name, Err: errors.New("the strongswan format is not supported yet")}
}
