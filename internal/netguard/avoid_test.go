package netguard_test

import (
	"testing"

	"github.com/errandhq/errand/internal/netguard"
)

func TestAvoided(t *testing.T) {
	avoid := []string{"example.com", "Ads.Tracker.NET.", "*.wild.org", "https://from-url.io/path", "bücher.de", "10.0.0.1", "", "  "}
	for host, want := range map[string]bool{
		"example.com":             true,
		"EXAMPLE.COM":             true,
		"example.com.":            true,
		"www.example.com":         true,
		"a.b.c.example.com..":     true,
		"notexample.com":          false,
		"example.com.evil.net":    false,
		"example.co":              false,
		"com":                     false,
		"ads.tracker.net":         true,
		"x.ads.tracker.net":       true,
		"tracker.net":             false,
		"wild.org":                true,
		"deep.wild.org":           true,
		"from-url.io":             true,
		"cdn.from-url.io":         true,
		"xn--bcher-kva.de":        true,
		"shop.BÜCHER.de":          true,
		"10.0.0.1":                true,
		"0xa.1":                   true, // the same address, spelled as a browser may
		"[::ffff:10.0.0.1]":       true,
		"110.0.0.1":               false,
		"":                        false,
		"example.com.example.org": false,
	} {
		if got := netguard.Avoided(host, avoid); got != want {
			t.Errorf("Avoided(%q) = %v, want %v", host, got, want)
		}
	}

	var none netguard.DomainMatcher
	if none.Match("example.com") {
		t.Error("the zero DomainMatcher matched a host")
	}
	if netguard.Avoided("example.com", nil) {
		t.Error("an empty avoid list matched a host")
	}
}
