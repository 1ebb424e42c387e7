package netguard_test

import (
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/netguard"
)

// guardCase is one address the policy must refuse, and must let through once
// its network is listed in Config.Allow.
type guardCase struct {
	name string
	// url may use {v4} and {v6}: the ports of real servers on 127.0.0.1
	// and [::1].
	url string
	// literal: the host is an IP address (in some spelling), so the URL
	// checks refuse it at submission. Otherwise the host is a name that
	// only the dial can judge, through the test's resolver.
	literal bool
	// allow is the network that, listed, lets the URL through.
	allow string
	// reach is set when a real server answers at the address: once
	// allowed, a real connection through the policy must get to it.
	reach bool
}

var guardCases = []guardCase{
	// Loopback, in every spelling a browser or inet_aton accepts.
	{name: "loopback", url: "http://127.0.0.1:{v4}/", literal: true, allow: "127.0.0.0/8", reach: true},
	{name: "loopback short form", url: "http://127.1:{v4}/", literal: true, allow: "127.0.0.0/8", reach: true},
	{name: "loopback decimal", url: "http://2130706433:{v4}/", literal: true, allow: "127.0.0.0/8", reach: true},
	{name: "loopback octal", url: "http://0177.0.0.1:{v4}/", literal: true, allow: "127.0.0.0/8", reach: true},
	{name: "loopback hex short", url: "http://0x7f.1:{v4}/", literal: true, allow: "127.0.0.0/8", reach: true},
	{name: "loopback hex whole", url: "http://0x7F000001:{v4}/", literal: true, allow: "127.0.0.0/8", reach: true},
	{name: "loopback mixed radix", url: "http://0x7f.0.00.0001:{v4}/", literal: true, allow: "127.0.0.0/8", reach: true},
	{name: "loopback trailing dot", url: "http://127.0.0.1.:{v4}/", literal: true, allow: "127.0.0.0/8", reach: true},
	{name: "loopback behind userinfo", url: "https://good.com@127.0.0.1:{v4}/", literal: true, allow: "127.0.0.0/8", reach: true},
	{name: "loopback behind user:pass", url: "https://good.com:443@127.0.0.1:{v4}/", literal: true, allow: "127.0.0.0/8", reach: true},
	{name: "loopback percent-encoded fullwidth", url: "http://%EF%BC%91%EF%BC%92%EF%BC%97.0.0.1:{v4}/", literal: true, allow: "127.0.0.0/8", reach: true},
	{name: "loopback fullwidth digits and dots", url: "http://１２７．０．０．１:{v4}/", literal: true, allow: "127.0.0.0/8", reach: true},
	{name: "localhost", url: "http://LOCALHOST:{v4}/", literal: true, allow: "127.0.0.0/8", reach: true},
	{name: "localhost subdomain trailing dot", url: "http://app.localhost.:{v4}/", literal: true, allow: "127.0.0.0/8", reach: true},
	{name: "IPv4-mapped loopback", url: "http://[::ffff:127.0.0.1]:{v4}/", literal: true, allow: "127.0.0.0/8", reach: true},
	{name: "IPv4-mapped loopback hex", url: "http://[::ffff:7f00:1]:{v4}/", literal: true, allow: "127.0.0.0/8", reach: true},
	{name: "IPv6 loopback", url: "http://[::1]:{v6}/", literal: true, allow: "::1/128", reach: true},
	{name: "IPv6 loopback long form", url: "http://[0:0:0:0:0:0:0:1]:{v6}/", literal: true, allow: "::1/128", reach: true},
	// Unspecified: Linux delivers a connection to 0.0.0.0 or :: to the
	// local host, which is why it is refused.
	{name: "unspecified zero", url: "http://0:{v4}/", literal: true, allow: "0.0.0.0/8", reach: true},
	{name: "unspecified dotted", url: "http://0.0.0.0:{v4}/", literal: true, allow: "0.0.0.0/8", reach: true},
	{name: "unspecified IPv6", url: "http://[::]:{v6}/", literal: true, allow: "::/128", reach: true},

	// Names only the dial can judge: the test's resolver points them at
	// refused addresses.
	{name: "name resolving to loopback", url: "https://evil.test:{v4}/hook", allow: "127.0.0.0/8", reach: true},
	{name: "name resolving to IPv6 loopback", url: "https://evil6.test:{v6}/hook", allow: "::1/128", reach: true},
	{name: "name resolving to IPv4-mapped loopback", url: "https://mapped.test:{v4}/hook", allow: "127.0.0.0/8", reach: true},
	{name: "name resolving to private", url: "https://private.test/hook", allow: "10.0.0.0/8"},
	{name: "name resolving to metadata", url: "https://metadata.test/latest/meta-data/", allow: "169.254.0.0/16"},
	{name: "name resolving only to refused addresses", url: "https://mixed.test/", allow: "10.0.0.0/8,192.168.0.0/16"},

	// Every other refused class, as literals.
	{name: "private 10/8", url: "http://10.0.0.1/", literal: true, allow: "10.0.0.0/8"},
	{name: "private 172.16/12", url: "http://172.16.5.4:8443/", literal: true, allow: "172.16.0.0/12"},
	{name: "private 192.168/16", url: "http://192.168.1.1/", literal: true, allow: "192.168.0.0/16"},
	{name: "private decimal", url: "http://3232235777/", literal: true, allow: "192.168.0.0/16"},
	{name: "private IPv4-mapped", url: "https://[::ffff:10.0.0.1]/", literal: true, allow: "10.0.0.0/8"},
	{name: "cloud metadata", url: "http://169.254.169.254/latest/meta-data/", literal: true, allow: "169.254.169.254/32"},
	{name: "cloud metadata hex", url: "http://0xa9.0xfe.0xa9.0xfe/", literal: true, allow: "169.254.0.0/16"},
	{name: "cloud metadata decimal", url: "http://2852039166/", literal: true, allow: "169.254.0.0/16"},
	{name: "CGNAT", url: "http://100.64.0.1/", literal: true, allow: "100.64.0.0/10"},
	{name: "multicast", url: "http://224.0.0.1/", literal: true, allow: "224.0.0.0/4"},
	{name: "broadcast", url: "http://255.255.255.255/", literal: true, allow: "255.255.255.255/32"},
	{name: "reserved", url: "http://240.0.0.1/", literal: true, allow: "240.0.0.0/4"},
	{name: "documentation", url: "http://192.0.2.1/", literal: true, allow: "192.0.2.0/24"},
	{name: "benchmarking", url: "http://198.18.0.1/", literal: true, allow: "198.18.0.0/15"},
	{name: "IPv6 unique-local fc00", url: "http://[fc00::1]/", literal: true, allow: "fc00::/7"},
	{name: "IPv6 unique-local fd00", url: "https://[fd12:3456:789a::1]:9000/", literal: true, allow: "fc00::/7"},
	{name: "IPv6 link-local", url: "http://[fe80::1]/", literal: true, allow: "fe80::/10"},
	{name: "IPv6 multicast", url: "http://[ff02::1]/", literal: true, allow: "ff00::/8"},
	{name: "IPv6 documentation", url: "http://[2001:db8::1]/", literal: true, allow: "2001:db8::/32"},
	{name: "NAT64 embedding loopback", url: "http://[64:ff9b::7f00:1]/", literal: true, allow: "64:ff9b::/96"},
	{name: "6to4 embedding loopback", url: "http://[2002:7f00:1::1]/", literal: true, allow: "2002::/16"},
	{name: "IPv4-compatible loopback", url: "http://[::127.0.0.1]/", literal: true, allow: "::/96"},
}

var guardHosts = map[string][]string{
	"evil.test":     {"127.0.0.1"},
	"evil6.test":    {"::1"},
	"mapped.test":   {"::ffff:127.0.0.1"},
	"private.test":  {"10.0.0.1"},
	"metadata.test": {"169.254.169.254"},
	"mixed.test":    {"10.1.2.3", "192.168.7.7"},
}

// TestGuardTable is the table: each address is refused for webhooks
// and for browser navigation (at submission when the host is an IP, at dial
// time otherwise), and let through when its network is allowed.
func TestGuardTable(t *testing.T) {
	v4 := startLoopbackServer(t, "tcp4", "127.0.0.1:0", nil)
	v6 := startLoopbackServer(t, "tcp6", "[::1]:0", nil)
	resolver := newTestResolver(guardHosts)

	for _, tc := range guardCases {
		t.Run(tc.name, func(t *testing.T) {
			raw := strings.NewReplacer("{v4}", v4.port, "{v6}", v6.port).Replace(tc.url)

			refusing := netguard.New(netguard.Config{Resolver: resolver})
			for check, fn := range map[string]func(string) error{
				"CheckWebhookURL": refusing.CheckWebhookURL,
				"CheckPageURL":    refusing.CheckPageURL,
			} {
				err := fn(raw)
				if tc.literal {
					if _, ok := asBlocked(err); !ok {
						t.Errorf("%s(%q) = %v, want a *BlockedError at submission", check, raw, err)
					}
				} else if err != nil {
					t.Errorf("%s(%q) = %v, want nil: a name is judged when dialed", check, raw, err)
				}
			}

			// Dialing, directly and as a fetcher's or webhook's client
			// would, is refused whatever the submission check said.
			if _, err := refusing.DialContext(t.Context(), "tcp", dialTarget(t, raw)); err == nil {
				t.Errorf("DialContext(%s) succeeded, want refused", dialTarget(t, raw))
			} else if _, ok := asBlocked(err); !ok {
				t.Errorf("DialContext(%s) = %v, want a *BlockedError", dialTarget(t, raw), err)
			}
			client := &http.Client{Transport: refusing.Transport(netguard.TransportOptions{})}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, raw, nil)
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
				t.Errorf("GET %s succeeded with %s, want refused", raw, resp.Status)
			} else if _, ok := asBlocked(err); !ok {
				t.Errorf("GET %s = %v, want a *BlockedError", raw, err)
			}

			allowing := netguard.New(netguard.Config{Allow: mustPrefixes(t, tc.allow), Resolver: resolver})
			if err := allowing.CheckWebhookURL(raw); err != nil {
				t.Errorf("with %s allowed: CheckWebhookURL(%q) = %v, want nil", tc.allow, raw, err)
			}
			if err := allowing.CheckPageURL(raw); err != nil {
				t.Errorf("with %s allowed: CheckPageURL(%q) = %v, want nil", tc.allow, raw, err)
			}
			if tc.reach {
				requestOverDial(t, allowing, dialTarget(t, raw))
				if strings.HasPrefix(raw, "http:") {
					client := &http.Client{Transport: allowing.Transport(netguard.TransportOptions{})}
					resp, err := client.Get(raw)
					if err != nil {
						t.Fatalf("with %s allowed: GET %s: %v", tc.allow, raw, err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if string(body) != "reached" {
						t.Errorf("with %s allowed: GET %s = %q, want \"reached\"", tc.allow, raw, body)
					}
				}
			} else {
				// Nothing listens there; the verdict on the address
				// it would dial must still have flipped.
				for _, a := range addrsOf(t, resolver, raw) {
					if err := allowing.CheckAddr(a); err != nil {
						t.Errorf("with %s allowed: CheckAddr(%s) = %v, want nil", tc.allow, a, err)
					}
				}
			}
		})
	}
	if len(guardCases) < 30 {
		t.Fatalf("the table has %d cases; the issue asks for at least 30", len(guardCases))
	}
}

// addrsOf is where raw's host points: its resolver answer for names, or the
// address its literal host spells (taken from the refusal at submission).
func addrsOf(t *testing.T, r *testResolver, raw string) []netip.Addr {
	t.Helper()
	host := strings.Split(strings.TrimPrefix(strings.TrimPrefix(raw, "http://"), "https://"), "/")[0]
	if spec, ok := guardHosts[strings.Split(host, ":")[0]]; ok {
		var out []netip.Addr
		for _, s := range spec {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	b, ok := asBlocked(netguard.New(netguard.Config{Resolver: r}).CheckPageURL(raw))
	if !ok {
		t.Fatalf("no refusal to read the address of %s from", raw)
	}
	return []netip.Addr{b.Addr}
}
