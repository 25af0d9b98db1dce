//go:build linux

package builtin

import "testing"

func TestParseRelease(t *testing.T) {
	for _, tc := range []struct {
		rel  string
		want Kernel
		ok   bool
	}{
		{"6.18.0-1-amd64", Kernel{6, 18}, true},
		{"4.8.0", Kernel{4, 8}, true},
		{"5.10-rc1", Kernel{5, 10}, true},
		{"6.1+", Kernel{6, 1}, true},
		{"6", Kernel{}, false},
		{"x.y", Kernel{}, false},
		{"", Kernel{}, false},
	} {
		if got, ok := parseRelease(tc.rel); got != tc.want || ok != tc.ok {
			t.Errorf("parseRelease(%q) = %v, %v; want %v, %v", tc.rel, got, ok, tc.want, tc.ok)
		}
	}
}
