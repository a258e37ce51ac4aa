package awsconf

import "errors"

// parseVyatta parses the vyatta format. Stub: to be written.
func parseVyatta(name string, data []byte) (*Connection, error) {
	return nil, &ParseError{File: name, Err: errors.New("the vyatta format is not supported yet")}
}
