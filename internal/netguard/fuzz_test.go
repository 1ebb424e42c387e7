package netguard_test

import (
	"errors"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/netguard"
)

// FuzzCheckWebhookURL: the URL checks never panic, the webhook check is never
// looser than the page check, and any URL whose host spells a refused IP
// address is refused. What "spells" means comes from an independent oracle
// (inet_aton's reading of numeric hosts, the standard library's address
// classes), not from the code under test.
func FuzzCheckWebhookURL(f *testing.F) {
	for _, tc := range guardCases {
		f.Add(strings.NewReplacer("{v4}", "8080", "{v6}", "8443").Replace(tc.URL))
	}
	for _, s := range []string{
		"https://example.com/hook?token=x",
		"http://user:pass@example.com:8443/",
		"http://[fe80::1%25eth0]/",
		"http://0x/", "http://0x.0x.0/", "http://1.2.3.4../", "http://foo.0x7f/",
		"http://4294967295/", "http://4294967296/", "http://037777777777/",
		"https://evil.com\\@127.0.0.1/", "javascript:alert(1)", "",
		"http://[::ffff:0:127.0.0.1]/", "http://[::ffff:169.254.169.254]/",
	} {
		f.Add(s)
	}
	p := netguard.New(netguard.Config{})

	f.Fuzz(func(t *testing.T, raw string) {
		errHook := p.CheckWebhookURL(raw)
		errPage := p.CheckPageURL(raw)
		for _, err := range []error{errHook, errPage} {
			var b *netguard.BlockedError
			var u *netguard.URLError
			if err != nil && !errors.As(err, &b) && !errors.As(err, &u) {
				t.Fatalf("refusal of %q is a %T, want *BlockedError or *URLError", raw, err)
			}
		}
		if errPage != nil && errHook == nil {
			t.Fatalf("%q: page check refused (%v) but webhook check accepted", raw, errPage)
		}
		u, err := url.Parse(raw)
		if err != nil {
			if errPage == nil {
				t.Fatalf("%q does not parse (%v) but was accepted", raw, err)
			}
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" && errPage == nil {
			t.Fatalf("%q has scheme %q but was accepted", raw, u.Scheme)
		}
		a, ok := oracleAddr(u)
		if !ok || !oracleRefuses(a) {
			return
		}
		if errHook == nil || errPage == nil {
			t.Fatalf("%q dials %s, a refused address, but was accepted (webhook: %v, page: %v)", raw, a, errHook, errPage)
		}
	})
}

var numericPart = regexp.MustCompile(`^(0[xX][0-9a-fA-F]*|[0-9]+)$`)

// oracleAddr reads the address a URL host spells: a bracketed IPv6 literal,
// or a numeric IPv4 host as inet_aton reads it (1 to 4 decimal, octal or hex
// parts, the last filling the remaining bytes).
func oracleAddr(u *url.URL) (netip.Addr, bool) {
	host := u.Hostname()
	if strings.HasPrefix(u.Host, "[") {
		a, err := netip.ParseAddr(host)
		return a, err == nil
	}
	host = strings.TrimSuffix(host, ".")
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, part := range parts {
		if !numericPart.MatchString(part) {
			return netip.Addr{}, false
		}
		if strings.EqualFold(part, "0x") {
			continue
		}
		v, err := strconv.ParseUint(part, 0, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var v uint64
	for i, part := range vals[:len(vals)-1] {
		if part > 255 {
			return netip.Addr{}, false
		}
		v |= part << (24 - 8*i)
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	v |= last
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// oracleRefuses classifies with the standard library and the RFCs named in
// docs/API.md, independently of code.dny.dev/ssrf.
func oracleRefuses(a netip.Addr) bool {
	a = a.WithZone("").Unmap()
	for _, cidr := range []string{"0.0.0.0/8", "100.64.0.0/10", "240.0.0.0/4", "64:ff9b::/96", "2002::/16"} {
		if netip.MustParsePrefix(cidr).Contains(a) {
			return true
		}
	}
	return !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() ||
		a.IsMulticast() || a.IsUnspecified()
}
