// Package netnsrun runs a function inside another network namespace on an
// OS thread of its own, the one way cgw enters a namespace it did not start
// in: sockets the function opens stay in that namespace, and /proc/sys/net
// and the children it forks follow it.
package netnsrun
