package netguard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// Resolver turns a host name into addresses. *net.Resolver satisfies it;
// tests pass their own so that "evil.test" can resolve to 127.0.0.1.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ResolverFunc adapts a function to [Resolver], the way http.HandlerFunc
// adapts one to http.Handler.
type ResolverFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

// LookupNetIP calls f.
func (f ResolverFunc) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return f(ctx, network, host)
}

// Config configures a [Policy].
type Config struct {
	// Allow lists networks exempt from the policy, such as 127.0.0.0/8 and
	// ::1/128 for local development (errand's --allow-networks). A network
	// written in IPv4-mapped IPv6 form (::ffff:10.0.0.0/104) is taken as the
	// IPv4 network it maps. Default: none.
	Allow []netip.Prefix

	// Resolver resolves host names before dialing. Whatever it answers, the
	// dial itself is judged again in the Control hook, so a resolver cannot
	// be used to get around the policy. Default: net.DefaultResolver.
	Resolver Resolver

	// DialTimeout bounds one connection attempt to one address; the
	// caller's context bounds the whole dial. Default: 10s.
	DialTimeout time.Duration

	// KeepAlive is the TCP keep-alive period of dialed connections.
	// Default: 30s.
	KeepAlive time.Duration
}

// Policy decides whether errand may connect to an address, and dials only
// where it may. It is safe for concurrent use.
type Policy struct {
	allow    []netip.Prefix
	guardian *ssrf.Guardian
	resolver Resolver
	dialer   *net.Dialer
}

// New returns the policy described by cfg.
func New(cfg Config) *Policy {
	p := &Policy{
		// Ports and network types are not ssrf's concern here: webhook
		// receivers listen on any port (8443, 9000, ...), and DialContext
		// and the Control hook restrict dialing to TCP themselves. The
		// operator's allow list is applied by check before ssrf is asked,
		// so that IPv4-mapped forms are judged like the IPv4 they map.
		guardian: ssrf.New(ssrf.WithAnyPort(), ssrf.WithAnyNetwork()),
		resolver: cfg.Resolver,
	}
	for _, pfx := range cfg.Allow {
		if !pfx.IsValid() {
			continue
		}
		p.allow = append(p.allow, normalizePrefix(pfx))
	}
	if p.resolver == nil {
		p.resolver = net.DefaultResolver
	}
	timeout := cfg.DialTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	keepAlive := cfg.KeepAlive
	if keepAlive == 0 {
		keepAlive = 30 * time.Second
	}
	p.dialer = &net.Dialer{
		Timeout:   timeout,
		KeepAlive: keepAlive,
		Control:   p.control,
	}
	return p
}

// normalizePrefix turns an IPv4-mapped IPv6 prefix into the IPv4 prefix it
// covers, because addresses are unmapped before they are compared.
func normalizePrefix(pfx netip.Prefix) netip.Prefix {
	pfx = pfx.Masked()
	if a := pfx.Addr(); a.Is4In6() && pfx.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), pfx.Bits()-96)
	}
	return pfx
}

// ParseAllowList parses the comma-separated --allow-networks value, such as
// "127.0.0.0/8, ::1/128". A bare address means that one address. Empty
// entries (a trailing comma) are ignored; an empty string allows nothing.
func ParseAllowList(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if pfx, err := netip.ParsePrefix(entry); err == nil {
			out = append(out, pfx.Masked())
			continue
		}
		if a, err := netip.ParseAddr(entry); err == nil && a.Zone() == "" {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		return nil, fmt.Errorf("allowed networks: %q is not a network in CIDR form (like 127.0.0.0/8 or ::1/128) or an IP address", entry)
	}
	return out, nil
}

// BlockedError reports an address the policy refused. Its message names the
// host and address only, never a URL, so it carries no userinfo or query
// secrets. Find it with errors.As through *url.Error and *net.OpError.
type BlockedError struct {
	// Host is the name or spelling that was asked for when it differs from
	// Addr (a DNS name, or an odd IP spelling such as 2130706433); empty
	// otherwise.
	Host string
	// Addr is the refused address.
	Addr netip.Addr
	// Reason says what kind of address Addr is, e.g. "a loopback address".
	Reason string
}

func (e *BlockedError) Error() string {
	msg := fmt.Sprintf("%s is %s, which the network policy refuses", e.Addr, e.Reason)
	if e.Host != "" && e.Host != e.Addr.String() {
		return e.Host + ": " + msg
	}
	return msg
}

// CheckAddr reports whether errand may connect to a, as a *BlockedError when
// it may not.
func (p *Policy) CheckAddr(a netip.Addr) error {
	return p.check("", a)
}

func (p *Policy) check(host string, a netip.Addr) error {
	if !a.IsValid() {
		return &BlockedError{Host: host, Addr: a, Reason: "not a valid address"}
	}
	// ::ffff:127.0.0.1 is 127.0.0.1 on the wire, and netip.Prefix.Contains
	// never matches an address with a zone: judge the bare IPv4 or IPv6.
	judged := a.WithZone("").Unmap()
	if p.allowed(judged) {
		return nil
	}
	// ssrf is the authority; the standard library's own classification is a
	// second opinion, so that a gap in one list cannot open a hole alone.
	if p.guardian.SafeAddr(judged) != nil || !judged.IsGlobalUnicast() || judged.IsPrivate() {
		return &BlockedError{Host: host, Addr: a, Reason: describe(a)}
	}
	return nil
}

func (p *Policy) allowed(a netip.Addr) bool {
	for _, pfx := range p.allow {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// control is the net.Dialer Control hook: it runs after resolution, just
// before connect(2), with the literal address about to be dialed. It is the
// check that cannot be skipped, whatever resolved the name.
func (p *Policy) control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return fmt.Errorf("netguard: network %s is not allowed, only TCP", network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("netguard: cannot judge dial address %q: %v", address, err)
	}
	return p.check("", ap.Addr())
}

type namedPrefix struct {
	prefix netip.Prefix
	reason string
}

// reasons names the refused ranges for people. Order matters: the first
// match wins, so narrower prefixes come before the ranges that contain them.
// Whether an address is refused is decided by check, not by this table.
var reasons = func() []namedPrefix {
	list := []struct{ cidr, reason string }{
		{"0.0.0.0/32", "an unspecified address"},
		{"0.0.0.0/8", `a "this network" address`},
		{"10.0.0.0/8", "a private address"},
		{"100.64.0.0/10", "a carrier-grade NAT (CGNAT) address"},
		{"127.0.0.0/8", "a loopback address"},
		{"169.254.169.254/32", "a link-local address (the cloud metadata service)"},
		{"169.254.0.0/16", "a link-local address"},
		{"172.16.0.0/12", "a private address"},
		{"192.0.0.0/24", "an IETF protocol assignment address"},
		{"192.0.2.0/24", "a documentation address"},
		{"192.88.99.0/24", "a 6to4 relay anycast address"},
		{"192.168.0.0/16", "a private address"},
		{"198.18.0.0/15", "a benchmarking address"},
		{"198.51.100.0/24", "a documentation address"},
		{"203.0.113.0/24", "a documentation address"},
		{"224.0.0.0/4", "a multicast address"},
		{"255.255.255.255/32", "the broadcast address"},
		{"240.0.0.0/4", "a reserved address"},
		{"::/128", "an unspecified address"},
		{"::1/128", "a loopback address"},
		{"::/96", "an IPv4-compatible IPv6 address"},
		{"64:ff9b::/96", "a NAT64 address"},
		{"64:ff9b:1::/48", "a local-use NAT64 address"},
		{"100::/64", "a discard-only address"},
		{"2001::/32", "a Teredo address"},
		{"2001:db8::/32", "a documentation address"},
		{"2001::/23", "an IETF protocol assignment address"},
		{"2002::/16", "a 6to4 address"},
		{"3fff::/20", "a documentation address"},
		{"fc00::/7", "a unique-local address"},
		{"fe80::/10", "a link-local address"},
		{"ff00::/8", "a multicast address"},
	}
	out := make([]namedPrefix, len(list))
	for i, e := range list {
		out[i] = namedPrefix{netip.MustParsePrefix(e.cidr), e.reason}
	}
	return out
}()

// sixToFour is the 6to4 range (RFC 3056), whose addresses embed an IPv4
// address in bits 16-47; named so a refusal can say which.
var sixToFour = netip.MustParsePrefix("2002::/16")

func describe(a netip.Addr) string {
	judged := a.WithZone("").Unmap()
	reason := "a special-purpose address"
	if judged.Is6() && !ssrf.IPv6GlobalUnicast.Contains(judged) {
		reason = "an address outside the IPv6 global unicast range"
	}
	for _, np := range reasons {
		if np.prefix.Contains(judged) {
			reason = np.reason
			break
		}
	}
	switch {
	case a.Is4In6():
		reason += fmt.Sprintf(" (IPv4-mapped %s)", judged)
	case judged.Is6() && ssrf.IPv6NAT64Prefix.Contains(judged):
		b := judged.As16()
		reason += fmt.Sprintf(" (embeds %s)", netip.AddrFrom4([4]byte(b[12:16])))
	case judged.Is6() && sixToFour.Contains(judged):
		b := judged.As16()
		reason += fmt.Sprintf(" (embeds %s)", netip.AddrFrom4([4]byte(b[2:6])))
	}
	return reason
}
