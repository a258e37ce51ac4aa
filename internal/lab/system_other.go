//go:build !linux

package lab

import (
	"errors"
	"os/exec"
	"syscall"
)

func supported() error {
	return errors.New("the lab needs Linux (network namespaces, strongSwan charon)")
}

func procsInNamespaces(nsPaths []string, dir string) (stop []int, others []string) { return nil, nil }

func flushConntrack(ns string) error {
	return errors.New("flushing conntrack needs Linux")
}

func detach(cmd *exec.Cmd) {}

func kill(pid int, sig syscall.Signal) error { return errors.New("signalling needs Linux") }

func setVGWRoute(string, int) error { return errors.New("routing in a namespace needs Linux") }
