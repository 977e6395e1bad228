package storetest

import (
	"net"
	"testing"
)

// HungRedis returns the URL of a "Redis" that accepts connections and never
// reads or answers them, closed when the test ends: the worst Redis a
// replica can meet.
func HungRedis(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() }) // held open, never read
		}
	}()
	return "redis://" + ln.Addr().String() + "/0"
}
