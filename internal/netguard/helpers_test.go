package netguard_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/errandhq/errand/internal/netguard"
)

// testResolver answers from a fixed table, like a DNS server the test owns;
// it is the one stand-in these tests use. Lookups are counted so that a test
// can make a name rebind between two dials.
type testResolver struct {
	mu      sync.Mutex
	answers map[string][][]string // name -> one answer per lookup; the last repeats
	lookups map[string]int
}

func newTestResolver(hosts map[string][]string) *testResolver {
	r := &testResolver{answers: map[string][][]string{}, lookups: map[string]int{}}
	for name, addrs := range hosts {
		r.answers[name] = [][]string{addrs}
	}
	return r
}

// rebind makes name answer first, then later on every following lookup.
func (r *testResolver) rebind(name string, first, later []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers[name] = [][]string{first, later}
}

func (r *testResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	r.mu.Lock()
	defer r.mu.Unlock()
	seq, ok := r.answers[name]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	i := min(r.lookups[name], len(seq)-1)
	r.lookups[name]++
	var out []netip.Addr
	for _, s := range seq[i] {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

// loopbackServer is a real HTTP server on a loopback address that answers
// "reached" and counts the requests it got.
type loopbackServer struct {
	srv  *httptest.Server
	port string
	mu   sync.Mutex
	hits int
}

func startLoopbackServer(t *testing.T, network, address string, h http.Handler) *loopbackServer {
	t.Helper()
	ln, err := net.Listen(network, address)
	if err != nil {
		t.Fatalf("listen on %s: %v", address, err)
	}
	ls := &loopbackServer{}
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "reached")
		})
	}
	ls.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ls.mu.Lock()
		ls.hits++
		ls.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	ls.srv.Listener.Close()
	ls.srv.Listener = ln
	ls.srv.Start()
	t.Cleanup(ls.srv.Close)
	_, ls.port, _ = net.SplitHostPort(ln.Addr().String())
	return ls
}

func (ls *loopbackServer) hitCount() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.hits
}

// dialTarget is the host:port an http.Transport would dial for raw.
func dialTarget(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// requestOverDial dials hostport through p and speaks HTTP/1.1 over the
// connection by hand, proving the connection reached one of our servers.
func requestOverDial(t *testing.T, p *netguard.Policy, hostport string) {
	t.Helper()
	conn, err := p.DialContext(t.Context(), "tcp", hostport)
	if err != nil {
		t.Fatalf("dial %s through the policy: %v", hostport, err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response over %s: %v", hostport, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "reached" {
		t.Fatalf("over %s: got %d %q, want 200 \"reached\"", hostport, resp.StatusCode, body)
	}
}

func mustPrefixes(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	p, err := netguard.ParseAllowList(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func asBlocked(err error) (*netguard.BlockedError, bool) {
	var b *netguard.BlockedError
	ok := errors.As(err, &b)
	return b, ok
}
