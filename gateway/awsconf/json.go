package awsconf

import "errors"

// parseJSON parses the json format. Stub: to be written.
func parseJSON(name string, data []byte) (*Connection, error) {
	return nil, &ParseError{File: name, Err: errors.New("the json format is not supported yet")}
}
