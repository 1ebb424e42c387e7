package netguard_test

import (
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/netguard"
)

// guardCases and guardHosts are the table, shared with the browser's
// navigation test through netguard.PolicyVectors.
var (
	guardCases = netguard.PolicyVectors()
	guardHosts = netguard.PolicyVectorHosts()
)

// TestGuardTable is the table: each address is refused for webhooks
// and for browser navigation (at submission when the host is an IP, at dial
// time otherwise), and let through when its network is allowed.
func TestGuardTable(t *testing.T) {
	v4 := startLoopbackServer(t, "tcp4", "127.0.0.1:0", nil)
	v6 := startLoopbackServer(t, "tcp6", "[::1]:0", nil)
	resolver := newTestResolver(guardHosts)

	for _, tc := range guardCases {
		t.Run(tc.Name, func(t *testing.T) {
			raw := strings.NewReplacer("{v4}", v4.port, "{v6}", v6.port).Replace(tc.URL)

			refusing := netguard.New(netguard.Config{Resolver: resolver})
			for check, fn := range map[string]func(string) error{
				"CheckWebhookURL": refusing.CheckWebhookURL,
				"CheckPageURL":    refusing.CheckPageURL,
			} {
				err := fn(raw)
				if tc.Literal {
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

			allowing := netguard.New(netguard.Config{Allow: mustPrefixes(t, tc.Allow), Resolver: resolver})
			if err := allowing.CheckWebhookURL(raw); err != nil {
				t.Errorf("with %s allowed: CheckWebhookURL(%q) = %v, want nil", tc.Allow, raw, err)
			}
			if err := allowing.CheckPageURL(raw); err != nil {
				t.Errorf("with %s allowed: CheckPageURL(%q) = %v, want nil", tc.Allow, raw, err)
			}
			if tc.Reach {
				requestOverDial(t, allowing, dialTarget(t, raw))
				if strings.HasPrefix(raw, "http:") {
					client := &http.Client{Transport: allowing.Transport(netguard.TransportOptions{})}
					resp, err := client.Get(raw)
					if err != nil {
						t.Fatalf("with %s allowed: GET %s: %v", tc.Allow, raw, err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if string(body) != "reached" {
						t.Errorf("with %s allowed: GET %s = %q, want \"reached\"", tc.Allow, raw, body)
					}
				}
			} else {
				// Nothing listens there; the verdict on the address
				// it would dial must still have flipped.
				for _, a := range addrsOf(t, resolver, raw) {
					if err := allowing.CheckAddr(a); err != nil {
						t.Errorf("with %s allowed: CheckAddr(%s) = %v, want nil", tc.Allow, a, err)
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
