//go:build !linux

package lab

import "errors"

func supported() error {
	return errors.New("the lab needs Linux (network namespaces, strongSwan charon)")
}

func procsInNamespaces(nsPaths []string, dir string) (stop []int, others []string) { return nil, nil }
