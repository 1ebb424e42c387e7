package netguard

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// DialContext connects to address ("host:port") over TCP if the policy
// allows it, with the signature of http.Transport.DialContext.
//
// The host is resolved through the configured Resolver; IP spellings that
// browsers accept (2130706433, 0x7f.1) are taken as the address they spell,
// and localhost names as loopback, without asking DNS. Refused addresses are
// dropped before dialing; when none is left the error wraps a *BlockedError.
// Every remaining address is judged once more by the Control hook at connect
// time, so nothing the resolver says can get a refused address dialed.
func (p *Policy) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: network, Err: err}
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, opErr(fmt.Errorf("netguard: network %s is not allowed, only TCP", network))
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, opErr(err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return nil, opErr(fmt.Errorf("netguard: invalid port %q", port))
	}

	addrs, err := p.resolve(ctx, network, host)
	if err != nil {
		return nil, opErr(err)
	}
	var refused error
	permitted := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if err := p.check(host, a); err != nil {
			if refused == nil {
				refused = err
			}
			continue
		}
		permitted = append(permitted, a)
	}
	if len(permitted) == 0 {
		if refused == nil {
			refused = &net.DNSError{Err: "no addresses for this network", Name: host, IsNotFound: true}
		}
		return nil, opErr(refused)
	}

	// One address at a time, in the resolver's order (Go's resolver sorts by
	// RFC 6724). The dialer's Control hook judges each again.
	var lastErr error
	for _, a := range permitted {
		conn, err := p.dialer.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// resolve returns the candidate addresses for host on network, before the
// policy is applied.
func (p *Policy) resolve(ctx context.Context, network, host string) ([]netip.Addr, error) {
	target, err := parseDialHost(host)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	switch {
	case target.addr.IsValid():
		addrs = []netip.Addr{target.addr}
	case target.localhost:
		// RFC 6761: localhost names are loopback whatever DNS says, which
		// is also how browsers treat them.
		addrs = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}
	default:
		ipNetwork := map[string]string{"tcp": "ip", "tcp4": "ip4", "tcp6": "ip6"}[network]
		addrs, err = p.resolver.LookupNetIP(ctx, ipNetwork, target.name)
		if err != nil {
			return nil, err
		}
	}
	// A custom resolver may ignore the network it was asked for.
	out := addrs[:0:0]
	for _, a := range addrs {
		is4 := a.Unmap().Is4()
		if (network == "tcp4" && !is4) || (network == "tcp6" && is4) {
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// TransportOptions tunes the *http.Transport returned by [Policy.Transport].
type TransportOptions struct {
	// TLSClientConfig is used for https. Default: nil (system roots).
	TLSClientConfig *tls.Config
	// MaxConnsPerHost caps connections to one host, so one slow receiver
	// cannot take every connection. Default: 0 (no cap).
	MaxConnsPerHost int
	// MaxIdleConns caps idle connections kept across all hosts, and
	// MaxIdleConnsPerHost those kept per host: high, so that deliveries
	// under load reuse connections instead of handshaking again.
	// Default: 256 each.
	MaxIdleConns        int
	MaxIdleConnsPerHost int
	// IdleConnTimeout closes connections idle this long. Default: 90s.
	IdleConnTimeout time.Duration
	// TLSHandshakeTimeout bounds a TLS handshake. Default: 10s.
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers after the
	// request is written. Default: 0 (none; bound requests with a context).
	ResponseHeaderTimeout time.Duration
}

// Transport returns an *http.Transport that dials only through the policy.
// Proxy is nil on purpose: a proxy from HTTP_PROXY would make the proxy, not
// the policy, decide where requests go. Each redirect hop an http.Client
// follows is dialed through the same policy.
func (p *Policy) Transport(opts TransportOptions) *http.Transport {
	orDefault := func(v, def int) int {
		if v <= 0 {
			return def
		}
		return v
	}
	orDefaultDur := func(v, def time.Duration) time.Duration {
		if v <= 0 {
			return def
		}
		return v
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           p.DialContext,
		TLSClientConfig:       opts.TLSClientConfig,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          orDefault(opts.MaxIdleConns, 256),
		MaxIdleConnsPerHost:   orDefault(opts.MaxIdleConnsPerHost, 256),
		MaxConnsPerHost:       opts.MaxConnsPerHost,
		IdleConnTimeout:       orDefaultDur(opts.IdleConnTimeout, 90*time.Second),
		TLSHandshakeTimeout:   orDefaultDur(opts.TLSHandshakeTimeout, 10*time.Second),
		ResponseHeaderTimeout: opts.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
	}
}

// IsBlocked reports whether err, or an error it wraps, is a *BlockedError.
func IsBlocked(err error) bool {
	var b *BlockedError
	return errors.As(err, &b)
}
