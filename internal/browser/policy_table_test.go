package browser_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/testenv"
)

// navCase is one row of the navigation table: a vector of netguard's table,
// or a page on an allowed address that redirects to one.
type navCase struct {
	netguard.PolicyVector
	// via, when set, is the URL of an allowed page that redirects to URL:
	// the navigation starts there, and must be refused at the redirect.
	via string
	// v6: the server behind URL is the one on [::1].
	v6 bool
}

// TestNavigationPolicyTable is the table for browser navigation: a
// real Chromium navigates to every URL of netguard.PolicyVectors (the table
// webhook delivery and the dialer are tested with), and to pages on an
// allowed address that redirect to some of them. Each navigation is refused
// without reaching the address, and those with a real server behind them
// load once their network is listed in Config.Allow.
//
// One Chromium process serves the whole table: every policy gets its own
// *browser.Chromium attached to it by WSURL (errand's browser-pool mode),
// because a Chromium's policy is fixed when it is made and relaunching a
// browser per policy would cost more than the table itself.
func TestNavigationPolicyTable(t *testing.T) {
	needChromium(t)
	ws := devToolsBrowser(t)
	v4 := startCountingServer(t, "tcp4", "127.0.0.1:0")
	v6 := startCountingServer(t, "tcp6", "[::1]:0")
	receiver := startRedirector(t)

	hosts := netguard.PolicyVectorHosts()
	resolver := netguard.ResolverFunc(func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		spec, ok := hosts[strings.TrimSuffix(strings.ToLower(host), ".")]
		if !ok {
			// Nothing outside the table is looked up for real: the test
			// must not depend on the machine's DNS.
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		var out []netip.Addr
		for _, s := range spec {
			out = append(out, netip.MustParseAddr(s))
		}
		return out, nil
	})

	browsers := map[string]*browser.Chromium{}
	chromiumAllowing := func(t *testing.T, allow string) *browser.Chromium {
		t.Helper()
		if c := browsers[allow]; c != nil {
			return c
		}
		prefixes, err := netguard.ParseAllowList(allow)
		if err != nil {
			t.Fatal(err)
		}
		c, err := browser.NewChromium(context.Background(), browser.ChromiumConfig{
			WSURL:             ws,
			Policy:            netguard.New(netguard.Config{Allow: prefixes, Resolver: resolver, DialTimeout: 5 * time.Second}),
			CallTimeout:       10 * time.Second,
			NavigationTimeout: 15 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		browsers[allow] = c
		return c
	}
	t.Cleanup(func() {
		for _, c := range browsers {
			c.Close()
		}
	})

	expand := strings.NewReplacer("{v4}", v4.port, "{v6}", v6.port).Replace
	var cases []navCase
	byName := map[string]navCase{}
	for _, v := range netguard.PolicyVectors() {
		onV6 := strings.Contains(v.URL, "{v6}")
		v.URL = expand(v.URL)
		tc := navCase{PolicyVector: v, v6: onV6}
		cases = append(cases, tc)
		byName[v.Name] = tc
	}
	// The redirect targets are vectors of the table, by name, so that the
	// redirects follow any change to how those addresses are spelled.
	for _, name := range []string{"loopback", "loopback decimal", "IPv6 loopback", "name resolving to loopback"} {
		tc, ok := byName[name]
		if !ok {
			t.Fatalf("netguard.PolicyVectors has no %q to redirect to", name)
		}
		tc.Name = "redirect to " + name
		tc.via = receiver.url + "/redirect?to=" + url.QueryEscape(tc.URL)
		cases = append(cases, tc)
	}
	if len(cases) < 30 {
		t.Fatalf("the table has %d cases; the issue asks for at least 30", len(cases))
	}

	// Refusals first, all of them: the loopback servers must not see a
	// single connection in this phase, which no later allowed navigation
	// (or a request it leaves behind) can blur.
	for i, tc := range cases {
		t.Run("refused/"+tc.Name, func(t *testing.T) {
			// The redirecting receiver itself is on an allowed address.
			allow := ""
			if tc.via != "" {
				allow = receiver.network
			}
			c := chromiumAllowing(t, allow)
			want := expectedRefusal(t, resolver, allow, tc.URL)
			before4, before6, beforeRecv := v4.counts(), v6.counts(), receiver.hits.Load()

			err := navigate(t, c, fmt.Sprintf("refused-%d", i), tc)
			// Every URL of the table reaches the proxy and is refused there:
			// Chromium rewrites the odd spellings (2130706433 to 127.0.0.1
			// and the like) but, as of Chromium 156, refuses none of them
			// itself. So the refusal is the policy's, and names the address
			// and its kind: "127.0.0.1 is a loopback address, which the
			// network policy refuses".
			var nav *browser.NavigationError
			if !errors.As(err, &nav) || !nav.Blocked {
				t.Errorf("Navigate(%s) = %v, want a *NavigationError with Blocked set", tc.URL, err)
			} else if !strings.Contains(nav.Reason, want) {
				t.Errorf("Navigate(%s) was refused saying %q, want it to say %q", tc.URL, nav.Reason, want)
			}
			if got, was := v4.counts(), before4; got != was {
				t.Errorf("the server on 127.0.0.1 got %s during the refused navigation (was %s)", got, was)
			}
			if got, was := v6.counts(), before6; got != was {
				t.Errorf("the server on [::1] got %s during the refused navigation (was %s)", got, was)
			}
			// A redirect is refused at its second hop: the first one,
			// to the allowed receiver, must have happened.
			if tc.via != "" && receiver.hits.Load() == beforeRecv {
				t.Errorf("the allowed receiver on %s got no request: the refusal came before the redirect", receiver.network)
			}
		})
	}
	if c4, c6 := v4.counts(), v6.counts(); c4.conns+c6.conns != 0 {
		t.Fatalf("the loopback servers got connections while every navigation was refused: 127.0.0.1 %s, [::1] %s", c4, c6)
	}

	// The same navigations with the network listed: the page behind each
	// address is loaded and read, so the refusals above were the policy's.
	for i, tc := range cases {
		if !tc.Reach {
			continue // nothing listens on 10.0.0.1 and the like
		}
		t.Run("allowed/"+tc.Name, func(t *testing.T) {
			allow := tc.Allow
			if tc.via != "" {
				allow += "," + receiver.network
			}
			c := chromiumAllowing(t, allow)
			srv := v4
			if tc.v6 {
				srv = v6
			}
			before := srv.counts()
			err := navigate(t, c, fmt.Sprintf("allowed-%d", i), tc)
			if err != nil {
				t.Fatalf("with %s allowed: Navigate(%s) = %v, want the page", allow, tc.URL, err)
			}
			if got := srv.counts(); got.requests == before.requests {
				t.Errorf("with %s allowed: the server got no request for %s", allow, tc.URL)
			}
		})
	}
}

// navigate opens a fresh session of c, navigates it to tc (through its
// redirecting page when it has one) and, when that succeeds, reads the page
// text and checks it is the loopback server's.
func navigate(t *testing.T, c *browser.Chromium, session string, tc navCase) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tb, err := c.Tab(ctx, session, browser.PageOptions{})
	if err != nil {
		t.Fatalf("Tab: %v", err)
	}
	defer c.CloseSession(session)
	start := tc.URL
	if tc.via != "" {
		start = tc.via
	}
	if err := tb.Navigate(ctx, start); err != nil {
		return err
	}
	obs, err := tb.Observe(ctx, browser.ObserveOptions{})
	if err != nil {
		t.Fatalf("Observe after navigating to %s: %v", start, err)
	}
	if !strings.Contains(obs.Text, reachedText) {
		t.Fatalf("navigating to %s shows %s:\n%s", start, obs.URL, obs.Text)
	}
	return nil
}

// expectedRefusal is what the proxy must say when it refuses raw under a
// policy allowing allow: the refusal of the address the proxy would dial,
// as netguard gives it.
func expectedRefusal(t *testing.T, resolver netguard.Resolver, allow, raw string) string {
	t.Helper()
	prefixes, err := netguard.ParseAllowList(allow)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	p := netguard.New(netguard.Config{Allow: prefixes, Resolver: resolver})
	conn, err := p.DialContext(t.Context(), "tcp", net.JoinHostPort(u.Hostname(), port))
	if err == nil {
		conn.Close()
		t.Fatalf("the policy allowing %q dials %s: the case refuses nothing", allow, raw)
	}
	var b *netguard.BlockedError
	if !errors.As(err, &b) {
		t.Fatalf("dialing %s: %v, want a *BlockedError", raw, err)
	}
	return b.Addr.String() + " is " + b.Reason
}

// reachedText is what the loopback servers' page says.
const reachedText = "reached the loopback server"

// countingServer is a real server on a loopback address, speaking http and
// https on the same port (the table uses both schemes with one port), that
// counts every connection it accepts and every request it answers.
type countingServer struct {
	port     string
	conns    atomic.Int64
	requests atomic.Int64
}

type serverCounts struct{ conns, requests int64 }

func (c serverCounts) String() string {
	return fmt.Sprintf("%d connections and %d requests", c.conns, c.requests)
}

func (s *countingServer) counts() serverCounts {
	return serverCounts{s.conns.Load(), s.requests.Load()}
}

func startCountingServer(t *testing.T, network, address string) *countingServer {
	t.Helper()
	ln, err := net.Listen(network, address)
	if err != nil {
		t.Fatalf("listen on %s: %v", address, err)
	}
	s := &countingServer{}
	_, s.port, _ = net.SplitHostPort(ln.Addr().String())
	// httptest's certificate is for 127.0.0.1 and ::1 but not the names the
	// table uses; the table's browser ignores certificate errors, because
	// what is tested is where connections go, not TLS.
	certs := httptest.NewTLSServer(http.NotFoundHandler())
	tlsConf := certs.TLS.Clone()
	certs.Close()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!doctype html><title>Loopback</title><p>"+reachedText+"</p>")
	})}
	go srv.Serve(&sniffListener{Listener: ln, tls: tlsConf, accepted: &s.conns})
	t.Cleanup(func() { srv.Close() })
	return s
}

// sniffListener hands out plain connections as they are, and connections
// that start with a TLS handshake record wrapped in TLS.
type sniffListener struct {
	net.Listener
	tls      *tls.Config
	accepted *atomic.Int64
}

func (l *sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Add(1)
	// The first byte decides. Peeking here holds up the next Accept, which
	// is fine for the table: its only clients are the browser proxy's
	// dials, which write at once (a request, or a TLS hello through a
	// tunnel); the deadline bounds a client that would not.
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	first, err := br.Peek(1)
	c.SetReadDeadline(time.Time{})
	pc := &peekedConn{Conn: c, r: br}
	if err == nil && first[0] == 0x16 { // TLS handshake record
		return tls.Server(pc, l.tls), nil
	}
	return pc, nil
}

type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// redirector is a receiver on 127.0.0.2, an address the table's policies
// allow (as 127.0.0.2/32), whose /redirect sends the browser on to ?to=.
type redirector struct {
	url     string // http://127.0.0.2:port
	network string // 127.0.0.2/32
	hits    atomic.Int64
}

func startRedirector(t *testing.T) *redirector {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.2: %v", err)
	}
	r := &redirector{url: "http://" + ln.Addr().String(), network: "127.0.0.2/32"}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		http.Redirect(w, req, req.URL.Query().Get("to"), http.StatusFound)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return r
}

// devToolsBrowser starts one headless Chromium with a DevTools port for the
// table and returns its ws:// address. It is started here, not by
// browser.NewChromium, because every Chromium of the table attaches to it.
func devToolsBrowser(t *testing.T) string {
	t.Helper()
	exe, err := browser.FindChromium()
	if err != nil {
		testenv.Chromium(t, err)
	}
	dir, err := os.MkdirTemp("", "errand-policy-table-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe,
		"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
		"--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update",
		"--disable-breakpad", "--disable-sync", "--disable-extensions", "--disable-default-apps",
		"--disable-features=Translate,MediaRouter,OptimizationHints,DialMediaRouteProvider,AutofillServerCommunication",
		// The https servers of the table have a self-signed certificate.
		"--ignore-certificate-errors",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--user-data-dir="+dir, "about:blank")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cmd.Process.Kill()
			cmd.Wait()
			os.RemoveAll(dir)
		})
	}
	t.Cleanup(stop)

	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "DevTools listening on "); ok {
				found <- strings.TrimSpace(rest)
				break
			}
		}
		// Keep draining: a browser whose stderr pipe fills up stalls.
		io.Copy(io.Discard, stderr)
	}()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case ws := <-found:
		return ws
	case <-timer.C:
		stop()
		t.Fatalf("%s did not print its DevTools address within 30s", exe)
		return ""
	}
}
