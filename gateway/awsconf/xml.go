package awsconf

import "errors"

// parseXML parses the xml format. Stub: to be written.
func parseXML(name string, data []byte) (*Connection, error) {
	return nil, &ParseError{File: name, Err: errors.New("the xml format is not supported yet")}
}
