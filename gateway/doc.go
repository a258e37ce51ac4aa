// Package gateway is the cgw daemon: its configuration (Config, read from
// cgw.yaml, CGW_* environment variables and flags), and the Gateway that
// imports the AWS file, drives charon through package ike, owns routes
// through package routes, keeps both tunnels up and serves its status.
package gateway
