package netguard_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/errandhq/errand/internal/netguard"
)

// TestRedirectToLoopbackRefused: a receiver the operator allowed (a server on
// 127.0.0.2, allowed as 127.0.0.2/32) redirects to 127.0.0.1, which is not
// allowed. A client following the redirect through the policy's Transport
// must be refused at the second hop, and the server behind it never reached.
func TestRedirectToLoopbackRefused(t *testing.T) {
	inner := startLoopbackServer(t, "tcp4", "127.0.0.1:0", nil)
	for _, target := range []string{
		"http://127.0.0.1:" + inner.port + "/secret",
		"http://2130706433:" + inner.port + "/secret",
		"http://evil.test:" + inner.port + "/secret",
	} {
		t.Run(target, func(t *testing.T) {
			outer := startLoopbackServer(t, "tcp4", "127.0.0.2:0", http.RedirectHandler(target, http.StatusFound))
			resolver := newTestResolver(map[string][]string{
				"receiver.test": {"127.0.0.2"},
				"evil.test":     {"127.0.0.1"},
			})
			before := inner.hitCount()

			p := netguard.New(netguard.Config{Allow: mustPrefixes(t, "127.0.0.2/32"), Resolver: resolver})
			client := &http.Client{Transport: p.Transport(netguard.TransportOptions{})}
			for _, start := range []string{"http://127.0.0.2:" + outer.port + "/hook", "http://receiver.test:" + outer.port + "/hook"} {
				resp, err := client.Get(start)
				if err == nil {
					resp.Body.Close()
					t.Fatalf("GET %s followed the redirect to %s: %s", start, target, resp.Status)
				}
				if _, ok := asBlocked(err); !ok {
					t.Fatalf("GET %s = %v, want a *BlockedError at the redirect", start, err)
				}
			}
			if outer.hitCount() != 2 {
				t.Errorf("the allowed receiver got %d requests, want 2 (the first hop is allowed)", outer.hitCount())
			}
			if got := inner.hitCount() - before; got != 0 {
				t.Errorf("the server on 127.0.0.1 got %d requests through a redirect", got)
			}

			// The same redirect with 127.0.0.0/8 allowed is followed: the
			// refusal above came from the policy, not from the setup.
			open := netguard.New(netguard.Config{Allow: mustPrefixes(t, "127.0.0.0/8"), Resolver: resolver})
			resp, err := (&http.Client{Transport: open.Transport(netguard.TransportOptions{})}).Get("http://127.0.0.2:" + outer.port + "/hook")
			if err != nil {
				t.Fatalf("with 127.0.0.0/8 allowed: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "reached" || inner.hitCount()-before != 1 {
				t.Fatalf("with 127.0.0.0/8 allowed the redirect should reach the inner server; got %q, %d hits", body, inner.hitCount()-before)
			}
		})
	}
}

// TestDNSRebindingRefusedAtDial: a name that first resolves to an allowed
// address and later to a refused one is refused on the later dial; the
// policy never trusts an earlier answer.
func TestDNSRebindingRefusedAtDial(t *testing.T) {
	srv := startLoopbackServer(t, "tcp4", "127.0.0.2:0", nil)
	resolver := newTestResolver(nil)
	resolver.rebind("rebind.test", []string{"127.0.0.2"}, []string{"127.0.0.1"})

	p := netguard.New(netguard.Config{Allow: mustPrefixes(t, "127.0.0.2/32"), Resolver: resolver})
	raw := "https://rebind.test:" + srv.port + "/hook"
	if err := p.CheckWebhookURL(raw); err != nil {
		t.Fatalf("CheckWebhookURL(%q) = %v; a name passes submission", raw, err)
	}
	// Without keep-alives each request dials, and so resolves, again.
	tr := p.Transport(netguard.TransportOptions{})
	tr.DisableKeepAlives = true
	client := &http.Client{Transport: tr}

	resp, err := client.Get("http://rebind.test:" + srv.port + "/")
	if err != nil {
		t.Fatalf("first GET, resolving to the allowed 127.0.0.2: %v", err)
	}
	resp.Body.Close()

	_, err = client.Get("http://rebind.test:" + srv.port + "/")
	b, ok := asBlocked(err)
	if !ok {
		t.Fatalf("second GET, after rebinding to 127.0.0.1: %v, want a *BlockedError", err)
	}
	if b.Host != "rebind.test" || b.Addr.String() != "127.0.0.1" {
		t.Errorf("BlockedError = %+v, want host rebind.test and address 127.0.0.1", b)
	}
}

// TestNameWithSomeRefusedAddresses: when a name resolves to both refused and
// allowed addresses, only the allowed ones are dialed.
func TestNameWithSomeRefusedAddresses(t *testing.T) {
	srv := startLoopbackServer(t, "tcp4", "127.0.0.2:0", nil)
	resolver := newTestResolver(map[string][]string{"split.test": {"127.0.0.1", "10.0.0.1", "127.0.0.2"}})
	p := netguard.New(netguard.Config{Allow: mustPrefixes(t, "127.0.0.2/32"), Resolver: resolver})
	requestOverDial(t, p, "split.test:"+srv.port)
}
