package browser_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/task"
)

// The Fetcher reports every page it cannot load as the one navigation
// error, with the code the task fails with, whatever the cause.
func TestFetcherNavigationErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://avoided.test/", http.StatusFound)
	}))
	defer srv.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String() + "/"
	closed.Close()

	strict := netguard.New(netguard.Config{})
	open := netguard.New(netguard.Config{Allow: allow(t, "127.0.0.0/8")})
	fetcher := func(p *netguard.Policy) *browser.Fetcher {
		return &browser.Fetcher{Client: &http.Client{Transport: p.Transport(netguard.TransportOptions{})}}
	}
	cases := []struct {
		name   string
		f      *browser.Fetcher
		url    string
		avoid  []string
		code   string
		policy bool // the cause is the network policy's own refusal
	}{
		{"refused by the network policy", fetcher(strict), srv.URL, nil, task.CodeNavigationBlocked, true},
		{"in avoidDomains", fetcher(open), "http://avoided.test/", []string{"avoided.test"}, task.CodeNavigationBlocked, false},
		{"redirected into avoidDomains", fetcher(open), srv.URL, []string{"avoided.test"}, task.CodeNavigationBlocked, false},
		{"connection refused", fetcher(open), closedURL, nil, task.CodeNavigationTimeout, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.f.Fetch(context.Background(), tc.url, browser.PageOptions{AvoidDomains: tc.avoid})
			var nav *browser.NavigationError
			if !errors.As(err, &nav) {
				t.Fatalf("Fetch = %v (%T), want a *browser.NavigationError", err, err)
			}
			if nav.Code() != tc.code {
				t.Errorf("code = %s, want %s (error %q)", nav.Code(), tc.code, err)
			}
			if got := netguard.IsBlocked(err); got != tc.policy {
				t.Errorf("netguard.IsBlocked = %v, want %v", got, tc.policy)
			}
		})
	}
}

func allow(t *testing.T, list string) []netip.Prefix {
	t.Helper()
	p, err := netguard.ParseAllowList(list)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
