//go:build !linux

package gateway

// resolveDataplane: only Linux has a data plane cgw can drive.
func resolveDataplane(d Dataplane) (Dataplane, string) {
	if d == DataplaneAuto {
		return DataplaneLibIPsec, "auto: not Linux"
	}
	return d, "configured"
}
