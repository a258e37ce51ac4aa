package awsconf

import "errors"

// parseOpenswan parses the openswan format. Stub: to be written.
func parseOpenswan(name string, data []byte) (*Connection, error) {
	return nil, &ParseError{File: name, Err: errors.New("the openswan format is not supported yet")}
}
