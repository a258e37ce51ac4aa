//go:build !linux

package gateway

func (p *prober) setEchoID(int)   {}
func (p *prober) setEchoPart(int) {}
