package main

import (
	"os"
	"syscall"
)

func interruptSignal() os.Signal { return syscall.SIGINT }
