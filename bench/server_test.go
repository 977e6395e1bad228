package main

import "testing"

func TestParseStat(t *testing.T) {
	// A command name with a space and a parenthesis; minflt 4242, utime 150,
	// stime 25.
	line := []byte("1234 (iron (clad) S 1 1234 1234 0 -1 4194560 4242 0 0 0 150 25 0 0 20 0 9 0 100 0 0\n")
	f, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if f[0] != "S" || f[7] != "4242" || f[11] != "150" || f[12] != "25" {
		t.Fatalf("state, minflt, utime, stime = %s %s %s %s; want S 4242 150 25", f[0], f[7], f[11], f[12])
	}
	for _, bad := range []string{"", "1234 iron S 1", "1234 (iron) S 1 2 3"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) error = nil, want one", bad)
		}
	}
}
