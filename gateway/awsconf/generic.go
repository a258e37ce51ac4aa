package awsconf

import "errors"

// parseGeneric parses the generic format. Stub: to be written.
func parseGeneric(name string, data []byte) (*Connection, error) {
	return nil, &ParseError{File: name, Err: errors.New("the generic format is not supported yet")}
}
