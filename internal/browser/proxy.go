package browser

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/errandhq/errand/internal/netguard"
)

// blockedHeader carries the reason of a refusal on the proxy's 403, so that
// a tab can tell a refused navigation from a page that answered 403 itself.
const blockedHeader = "X-Errand-Blocked"

// proxy is the HTTP proxy Chromium sends every request through, so that
// navigations, sub-resources, redirects, fetch/XHR and websockets all pass
// the network policy and the task's avoidDomains. Chromium cannot be trusted
// to judge addresses itself (it resolves names, follows redirects and lets
// pages open sockets), but it can be told to use a proxy for everything:
// then the proxy's dials, which go through netguard.Policy.DialContext, are
// the only way out.
//
// Each browser context gets its own listener (an identity), because
// avoidDomains differ per session and per task, and because a proxy cannot
// otherwise tell which context a connection comes from.
type proxy struct {
	policy    *netguard.Policy
	logger    *slog.Logger
	host      string // where identities listen
	forward   *httputil.ReverseProxy
	transport *http.Transport
}

func newProxy(policy *netguard.Policy, host string, logger *slog.Logger) *proxy {
	p := &proxy{policy: policy, logger: logger, host: host}
	p.transport = policy.Transport(netguard.TransportOptions{
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     30 * time.Second,
	})
	// Chromium speaks HTTP/1.1 to an http proxy; keep the origin side the
	// same so that upgrades (ws://) pass through unchanged.
	p.transport.ForceAttemptHTTP2 = false
	p.forward = &httputil.ReverseProxy{
		// The request already carries the absolute URL the page asked for;
		// nothing is rewritten and no X-Forwarded-* header is added, so the
		// site sees what a browser without a proxy would send.
		Rewrite:   func(*httputil.ProxyRequest) {},
		Transport: p.transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			id := identityFrom(r.Context())
			var blocked *netguard.BlockedError
			if errors.As(err, &blocked) {
				id.refuse(w, r.URL.Host, blocked.Error())
				return
			}
			http.Error(w, "errand could not reach "+r.URL.Host+": "+errText(err), http.StatusBadGateway)
		},
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	return p
}

func errText(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// close drops the idle origin connections; identities close themselves.
func (p *proxy) close() { p.transport.CloseIdleConnections() }

// identity is one listener of the proxy, used by one browser context.
type identity struct {
	p     *proxy
	ln    net.Listener
	srv   *http.Server
	avoid atomic.Pointer[netguard.DomainMatcher]

	mu       sync.Mutex
	refusals map[string]string // host:port → reason, the latest refusals
	conns    map[net.Conn]struct{}
	closed   bool
}

type identityKey struct{}

func identityFrom(ctx context.Context) *identity {
	id, _ := ctx.Value(identityKey{}).(*identity)
	return id
}

// newIdentity starts a listener with its own avoid list.
func (p *proxy) newIdentity() (*identity, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(p.host, "0"))
	if err != nil {
		return nil, fmt.Errorf("starting the browser's proxy: %w", err)
	}
	id := &identity{p: p, ln: ln, refusals: map[string]string{}, conns: map[net.Conn]struct{}{}}
	id.avoid.Store(&netguard.DomainMatcher{})
	id.srv = &http.Server{
		Handler:           id,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithValue(context.Background(), identityKey{}, id) },
		ErrorLog:          slog.NewLogLogger(p.logger.Handler(), slog.LevelDebug),
	}
	go id.srv.Serve(ln)
	return id, nil
}

// addr is the proxy address to give Chromium.
func (id *identity) addr() string { return "http://" + id.ln.Addr().String() }

// setAvoid replaces the avoidDomains judged from now on (a new task of the
// session).
func (id *identity) setAvoid(avoid []string) {
	m := netguard.NewDomainMatcher(avoid)
	id.avoid.Store(&m)
	id.mu.Lock()
	clear(id.refusals)
	id.mu.Unlock()
}

// refusal returns why the proxy last refused hostport, if it did.
func (id *identity) refusal(hostport string) (string, bool) {
	id.mu.Lock()
	defer id.mu.Unlock()
	r, ok := id.refusals[hostport]
	return r, ok
}

func (id *identity) close() {
	id.mu.Lock()
	id.closed = true
	conns := id.conns
	id.conns = nil
	id.mu.Unlock()
	id.srv.Close()
	// Hijacked tunnels are not the server's any more: close them too, so a
	// closed session keeps no connection open.
	for c := range conns {
		c.Close()
	}
}

func (id *identity) track(c net.Conn) bool {
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.closed {
		return false
	}
	id.conns[c] = struct{}{}
	return true
}

func (id *identity) untrack(c net.Conn) {
	id.mu.Lock()
	delete(id.conns, c)
	id.mu.Unlock()
}

// refuse answers a refused request: a 403 whose header and body say why.
// Chromium shows the body for http pages; for a refused CONNECT it shows
// its own error page, so the reason is also kept for the tab to look up.
func (id *identity) refuse(w http.ResponseWriter, hostport, reason string) {
	id.mu.Lock()
	if len(id.refusals) > 256 {
		clear(id.refusals)
	}
	id.refusals[hostport] = reason
	id.mu.Unlock()
	id.p.logger.Debug("browser proxy refused a request", "host", hostport, "reason", reason)
	w.Header().Set(blockedHeader, reason)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprintf(w, "<!doctype html><title>Blocked by errand</title><h1>Blocked by errand</h1><p>%s</p>\n", html.EscapeString(reason))
}

// check judges a host against avoidDomains. The network policy is judged
// when dialing, after DNS resolution.
func (id *identity) check(host string) (string, bool) {
	if id.avoid.Load().Match(host) {
		return host + " is in the task's avoidDomains", false
	}
	return "", true
}

func (id *identity) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		id.tunnel(w, r)
		return
	}
	if !r.URL.IsAbs() || r.URL.Scheme != "http" {
		http.Error(w, "errand's browser proxy forwards absolute http URLs only", http.StatusBadRequest)
		return
	}
	hostport := r.URL.Host
	if r.URL.Port() == "" {
		hostport = net.JoinHostPort(r.URL.Hostname(), "80")
	}
	if reason, ok := id.check(r.URL.Hostname()); !ok {
		id.refuse(w, hostport, reason)
		return
	}
	// Proxy-* headers are for this proxy, not for the site.
	r.Header.Del("Proxy-Connection")
	r.Header.Del("Proxy-Authorization")
	id.p.forward.ServeHTTP(w, r)
}

// tunnel serves CONNECT: https, wss, and anything else Chromium tunnels.
func (id *identity) tunnel(w http.ResponseWriter, r *http.Request) {
	hostport := r.Host
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		http.Error(w, "CONNECT needs host:port", http.StatusBadRequest)
		return
	}
	if reason, ok := id.check(host); !ok {
		id.refuse(w, hostport, reason)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	upstream, err := id.p.policy.DialContext(ctx, "tcp", hostport)
	cancel()
	if err != nil {
		var blocked *netguard.BlockedError
		if errors.As(err, &blocked) {
			id.refuse(w, hostport, blocked.Error())
			return
		}
		http.Error(w, "errand could not reach "+hostport+": "+errText(err), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		upstream.Close()
		http.Error(w, "cannot tunnel", http.StatusInternalServerError)
		return
	}
	client, buf, err := hj.Hijack()
	if err != nil {
		upstream.Close()
		return
	}
	if !id.track(client) {
		client.Close()
		upstream.Close()
		return
	}
	defer id.untrack(client)
	defer client.Close()
	defer upstream.Close()
	if _, err := client.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n")); err != nil {
		return
	}
	// Bytes the client sent after the CONNECT line (a TLS hello) may sit
	// in the server's read buffer already.
	if n := buf.Reader.Buffered(); n > 0 {
		b, _ := buf.Reader.Peek(n)
		if _, err := upstream.Write(b); err != nil {
			return
		}
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		// Half-close so the other direction can finish its last bytes.
		if c, ok := dst.(interface{ CloseWrite() error }); ok {
			c.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(upstream, client)
	go pipe(client, upstream)
	<-done
	<-done
}

// refusedHost extracts host:port of a URL the way the proxy keys refusals.
func refusedHost(scheme, host, port string) string {
	if port == "" {
		switch strings.ToLower(scheme) {
		case "https", "wss":
			port = "443"
		default:
			port = "80"
		}
	}
	return net.JoinHostPort(host, port)
}
