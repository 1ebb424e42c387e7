package netguard_test

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/netguard"
)

func TestParseAllowList(t *testing.T) {
	got, err := netguard.ParseAllowList(" 127.0.0.0/8, ::1/128,10.1.2.3,,192.168.1.7/16 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("10.1.2.3/32"),
		netip.MustParsePrefix("192.168.0.0/16"),
	}
	if len(got) != len(want) {
		t.Fatalf("ParseAllowList = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ParseAllowList = %v, want %v", got, want)
		}
	}

	if got, err := netguard.ParseAllowList(""); err != nil || len(got) != 0 {
		t.Fatalf(`ParseAllowList("") = %v, %v; want nothing allowed`, got, err)
	}

	for _, bad := range []string{"localhost", "127.0.0.0/33", "10.0.0.0/8,banana", "fe80::1%eth0", "127.0.0.1/8/8"} {
		_, err := netguard.ParseAllowList(bad)
		if err == nil {
			t.Errorf("ParseAllowList(%q) succeeded, want an error", bad)
			continue
		}
		entry := bad[strings.LastIndex(bad, ",")+1:]
		if !strings.Contains(err.Error(), `"`+entry+`"`) {
			t.Errorf("ParseAllowList(%q) error %q does not name the bad entry %q", bad, err, entry)
		}
	}
}

func TestAllowedNetworkMatchesOnlyItself(t *testing.T) {
	p := netguard.New(netguard.Config{Allow: mustPrefixes(t, "127.0.0.2, 10.0.0.0/8")})
	for addr, allowed := range map[string]bool{
		"127.0.0.2":        true,
		"::ffff:127.0.0.2": true,
		"127.0.0.1":        false,
		"10.255.0.1":       true,
		"11.0.0.0":         true, // public anyway
		"172.16.0.1":       false,
		"::1":              false,
	} {
		err := p.CheckAddr(netip.MustParseAddr(addr))
		if allowed != (err == nil) {
			t.Errorf("CheckAddr(%s) = %v, want allowed=%v", addr, err, allowed)
		}
	}

	// A network written in IPv4-mapped form allows the IPv4 it maps.
	mapped := netguard.New(netguard.Config{Allow: []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.0/104")}})
	if err := mapped.CheckAddr(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Errorf("with ::ffff:127.0.0.0/104 allowed, CheckAddr(127.0.0.1) = %v", err)
	}
}

func TestPublicAddressesPass(t *testing.T) {
	p := netguard.New(netguard.Config{})
	for _, a := range []string{"8.8.8.8", "1.1.1.1", "93.184.215.14", "::ffff:8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"} {
		if err := p.CheckAddr(netip.MustParseAddr(a)); err != nil {
			t.Errorf("CheckAddr(%s) = %v, want nil", a, err)
		}
	}
	for _, raw := range []string{
		"https://example.com/hook",
		"https://example.com:8443/hook?x=1",
		"https://93.184.215.14/",
		"https://[2606:4700:4700::1111]:9000/",
		"https://user:pass@example.com/",
		"https://EXAMPLE.COM./",
		"https://bücher.example/",
	} {
		if err := p.CheckWebhookURL(raw); err != nil {
			t.Errorf("CheckWebhookURL(%q) = %v, want nil", raw, err)
		}
		if err := p.CheckPageURL(raw); err != nil {
			t.Errorf("CheckPageURL(%q) = %v, want nil", raw, err)
		}
	}
}

func TestBlockedErrorReasons(t *testing.T) {
	p := netguard.New(netguard.Config{})
	for addr, want := range map[string]string{
		"127.0.0.1":        "127.0.0.1 is a loopback address",
		"169.254.169.254":  "169.254.169.254 is a link-local address (the cloud metadata service)",
		"10.1.2.3":         "10.1.2.3 is a private address",
		"100.100.1.1":      "100.100.1.1 is a carrier-grade NAT (CGNAT) address",
		"0.0.0.0":          "0.0.0.0 is an unspecified address",
		"255.255.255.255":  "255.255.255.255 is the broadcast address",
		"::ffff:10.0.0.1":  "::ffff:10.0.0.1 is a private address (IPv4-mapped 10.0.0.1)",
		"64:ff9b::7f00:1":  "64:ff9b::7f00:1 is a NAT64 address (embeds 127.0.0.1)",
		"2002:a00:1::":     "2002:a00:1:: is a 6to4 address (embeds 10.0.0.1)",
		"fd00::1":          "fd00::1 is a unique-local address",
		"fe80::1":          "fe80::1 is a link-local address",
		"ff02::1":          "ff02::1 is a multicast address",
		"::":               ":: is an unspecified address",
		"4000::1":          "4000::1 is an address outside the IPv6 global unicast range",
		"198.51.100.7":     "198.51.100.7 is a documentation address",
		"2001:db8::7":      "2001:db8::7 is a documentation address",
		"2001:0:4136::1":   "2001:0:4136::1 is a Teredo address",
		"192.88.99.1":      "192.88.99.1 is a 6to4 relay anycast address",
		"233.252.0.1":      "233.252.0.1 is a multicast address",
		"::ffff:127.0.0.1": "::ffff:127.0.0.1 is a loopback address (IPv4-mapped 127.0.0.1)",
	} {
		err := p.CheckAddr(netip.MustParseAddr(addr))
		b, ok := asBlocked(err)
		if !ok {
			t.Errorf("CheckAddr(%s) = %v, want a *BlockedError", addr, err)
			continue
		}
		if b.Addr != netip.MustParseAddr(addr) {
			t.Errorf("CheckAddr(%s): Addr = %s", addr, b.Addr)
		}
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("CheckAddr(%s) = %q, want it to start %q", addr, err, want)
		}
	}

	// A refusal at submission names the spelling and the address it means.
	err := p.CheckWebhookURL("https://2130706433/")
	if want := "2130706433: 127.0.0.1 is a loopback address"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("CheckWebhookURL(decimal loopback) = %v, want it to start %q", err, want)
	}
}

// TestErrorsCarryNoSecrets: refusals end up in delivery records and API
// answers, so they must not repeat the URL's userinfo or query.
func TestErrorsCarryNoSecrets(t *testing.T) {
	const secret = "s3cr3t-T0KEN"
	resolver := newTestResolver(map[string][]string{"evil.test": {"127.0.0.1"}})
	p := netguard.New(netguard.Config{Resolver: resolver})

	urls := []string{
		"https://user:" + secret + "@127.0.0.1/?token=" + secret,
		"http://user:" + secret + "@2130706433/hook?token=" + secret + "#" + secret,
		"http://user:" + secret + "@example.com/?token=" + secret,
		"ftp://user:" + secret + "@example.com/?token=" + secret,
		"https://user:" + secret + "@exa mple.com/?token=" + secret,
		"https://user:" + secret + "@example.com:" + secret + "/",
		"https://user:" + secret + "@[::1%25" + secret + "]/",
	}
	for _, raw := range urls {
		for _, err := range []error{p.CheckWebhookURL(raw), p.CheckPageURL(raw)} {
			if err == nil {
				continue
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("refusal of %q leaks the secret: %q", raw, err)
			}
		}
	}

	client := &http.Client{Transport: p.Transport(netguard.TransportOptions{})}
	_, err := client.Get("http://user:" + secret + "@evil.test:8080/hook?token=" + secret)
	b, ok := asBlocked(err)
	if !ok {
		t.Fatalf("GET through the policy = %v, want a *BlockedError", err)
	}
	if strings.Contains(b.Error(), secret) {
		t.Errorf("BlockedError leaks the secret: %q", b)
	}
	var uerr *url.Error
	if !errors.As(err, &uerr) {
		t.Errorf("GET error %T is not a *url.Error; errors.As must see the BlockedError through it", err)
	}
}

// TestWebhookSchemeRule pins the http/https choice: https always; http only
// where the operator has allowed the host's network and the host says so by
// its syntax (an IP literal, or a localhost name).
func TestWebhookSchemeRule(t *testing.T) {
	open := netguard.New(netguard.Config{})
	dev := netguard.New(netguard.Config{Allow: mustPrefixes(t, "127.0.0.0/8,10.0.0.0/8")})
	v6dev := netguard.New(netguard.Config{Allow: mustPrefixes(t, "::1/128")})

	for _, tc := range []struct {
		policy  *netguard.Policy
		raw     string
		webhook string // "" = accepted, "https" = must use https, "blocked", "invalid"
		page    string
	}{
		{open, "https://example.com/", "", ""},
		{open, "http://example.com/", "https", ""},
		{open, "http://93.184.215.14/", "https", ""},
		{open, "HTTPS://example.com/", "", ""},
		{open, "ftp://example.com/", "invalid", "invalid"},
		{open, "file:///etc/passwd", "invalid", "invalid"},
		{open, "javascript:alert(1)", "invalid", "invalid"},
		{open, "http://127.0.0.1:8080/", "blocked", "blocked"},
		{dev, "http://127.0.0.1:8080/", "", ""},
		{dev, "http://10.2.3.4:9000/hook", "", ""},
		{dev, "http://localhost:9000/hook", "", ""},
		{dev, "http://receiver.internal/", "https", ""},
		{dev, "http://93.184.215.14/", "https", ""},
		{dev, "http://[::1]:9000/", "blocked", "blocked"},
		{v6dev, "http://[::1]:9000/", "", ""},
		{v6dev, "http://localhost:9000/", "", ""},
		{open, "http://localhost:9000/", "blocked", "blocked"},
		{open, "https://localhost/", "blocked", "blocked"},
	} {
		for _, check := range []struct {
			name string
			fn   func(string) error
			want string
		}{
			{"CheckWebhookURL", tc.policy.CheckWebhookURL, tc.webhook},
			{"CheckPageURL", tc.policy.CheckPageURL, tc.page},
		} {
			err := check.fn(tc.raw)
			var got string
			var uerr *netguard.URLError
			switch {
			case err == nil:
			case netguard.IsBlocked(err):
				got = "blocked"
			case errors.As(err, &uerr) && strings.Contains(uerr.Reason, "must use https"):
				got = "https"
			case errors.As(err, &uerr):
				got = "invalid"
			default:
				got = "unexpected " + err.Error()
			}
			if got != check.want {
				t.Errorf("%s(%q) = %v (%q), want %q", check.name, tc.raw, err, got, check.want)
			}
		}
	}
}

// TestInvalidURLsRefused: URLs that are not absolute http(s) URLs with a
// usable host are refused however much the operator allows.
func TestInvalidURLsRefused(t *testing.T) {
	p := netguard.New(netguard.Config{Allow: mustPrefixes(t, "0.0.0.0/0,::/0")})
	for _, raw := range []string{
		"",
		"   ",
		"example.com/hook",
		"//example.com/hook",
		"http:///hook",
		"http:example.com",
		"https://",
		"http://%31%32%37.0.0.1/",
		"https://evil.com\\@127.0.0.1/",
		"http://[fe80::1%25eth0]/",
		"http://[127.0.0.1]/",
		"http://[::1/",
		"http://foo.0x7f/",
		"http://1.2.3.09/",
		"http://256.1.1.1/",
		"http://4294967296/",
		"http://example.com:0/",
		"http://example.com:99999/",
		"http://exa mple.com/",
		" http://example.com/",
		"http://example.com\n/",
		"http://a%C2%A0b/",
		"http://xn--/",
	} {
		for name, fn := range map[string]func(string) error{"CheckWebhookURL": p.CheckWebhookURL, "CheckPageURL": p.CheckPageURL} {
			err := fn(raw)
			var uerr *netguard.URLError
			if !errors.As(err, &uerr) {
				t.Errorf("%s(%q) = %v, want a *URLError", name, raw, err)
			}
		}
	}
}

func TestTransportSettings(t *testing.T) {
	tr := netguard.New(netguard.Config{}).Transport(netguard.TransportOptions{MaxConnsPerHost: 4})
	if tr.Proxy != nil {
		t.Error("Transport.Proxy is set; an environment proxy would decide where requests go instead of the policy")
	}
	if tr.DialContext == nil || tr.DialTLSContext != nil {
		t.Error("Transport must dial only through the policy's DialContext")
	}
	if tr.MaxIdleConns < 256 || tr.MaxIdleConnsPerHost < 256 {
		t.Errorf("idle connections %d/%d per host; want at least 256 each so deliveries reuse connections", tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
	}
	if tr.MaxConnsPerHost != 4 {
		t.Errorf("MaxConnsPerHost = %d, want the 4 asked for", tr.MaxConnsPerHost)
	}
	if !tr.ForceAttemptHTTP2 || tr.DisableKeepAlives {
		t.Error("want HTTP/2 attempted and keep-alives on")
	}
	if tr.TLSHandshakeTimeout <= 0 || tr.IdleConnTimeout <= 0 {
		t.Error("want TLS handshake and idle timeouts set")
	}
}

func TestDialContextRefusesOtherNetworks(t *testing.T) {
	p := netguard.New(netguard.Config{Allow: mustPrefixes(t, "0.0.0.0/0,::/0")})
	for _, network := range []string{"udp", "unix", "ip4:icmp"} {
		if conn, err := p.DialContext(t.Context(), network, "127.0.0.1:53"); err == nil {
			conn.Close()
			t.Errorf("DialContext(%s) succeeded; only TCP may be dialed", network)
		}
	}
}
