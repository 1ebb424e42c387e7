package netguard

import (
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// URLError explains why a URL was refused before any connection was tried.
// Its message is meant to follow a field name ("webhook.url: must use
// https") and never repeats the URL, so it carries no userinfo or query
// secrets.
type URLError struct {
	Reason string
}

func (e *URLError) Error() string { return e.Reason }

// CheckWebhookURL judges a webhook URL at submission. It must be an absolute
// http or https URL with a host, on any port. A host that is an IP address
// in a refused range, in any spelling a browser accepts, or a localhost name
// while loopback is refused, gives a *BlockedError; other problems give a
// *URLError. Host names pass: they are judged when dialed.
//
// Plain http is accepted only for a host inside the allowed networks (docs/API.md),
// which at submission can only be known from the host's syntax: an IP
// literal inside Config.Allow, or a localhost name while 127.0.0.1 or ::1 is
// allowed. http to any other name is refused with "must use https", even if
// that name would resolve into an allowed network: resolving at submission
// proves nothing about what the name resolves to at delivery, and the
// receiver's auth header and payload would travel in clear text.
func (p *Policy) CheckWebhookURL(raw string) error {
	return p.checkURL(raw, true)
}

// CheckPageURL judges a page URL (a task's startingPoint) the same way as
// [Policy.CheckWebhookURL], except that plain http is fine for any host.
func (p *Policy) CheckPageURL(raw string) error {
	return p.checkURL(raw, false)
}

func (p *Policy) checkURL(raw string, webhook bool) error {
	if strings.TrimSpace(raw) == "" {
		return &URLError{Reason: "must not be empty"}
	}
	// The parse error would quote the URL, secrets and all; it is dropped.
	u, err := url.Parse(raw)
	if err != nil {
		return &URLError{Reason: "is not a valid URL"}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		if webhook {
			return &URLError{Reason: "must be an https URL"}
		}
		return &URLError{Reason: "must be an http or https URL"}
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return &URLError{Reason: "must be an absolute URL with a host"}
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return &URLError{Reason: "has an invalid port"}
		}
	}
	target, err := parseURLHost(u)
	if err != nil {
		return err
	}

	host := u.Hostname()
	insideAllowed := false
	switch {
	case target.addr.IsValid():
		if err := p.check(host, target.addr); err != nil {
			return err
		}
		insideAllowed = p.allowed(target.addr.WithZone("").Unmap())
	case target.localhost:
		errV4 := p.check(host, netip.AddrFrom4([4]byte{127, 0, 0, 1}))
		errV6 := p.check(host, netip.IPv6Loopback())
		if errV4 != nil && errV6 != nil {
			return errV4
		}
		insideAllowed = true
	}
	if webhook && u.Scheme == "http" && !insideAllowed {
		return &URLError{Reason: "must use https (plain http is accepted only for an IP address inside the operator's allowed networks)"}
	}
	return nil
}

// hostTarget is what a URL host names: an address, localhost, or a DNS name
// to resolve at dial time.
type hostTarget struct {
	addr      netip.Addr
	localhost bool
	name      string
}

// parseURLHost reads u's host the way the WHATWG URL Standard's host parser
// does for http and https, so that the address judged at submission is the
// one a browser would dial. net/url has already percent-decoded the host (it
// refuses percent-encoded ASCII in hosts, which is stricter still).
func parseURLHost(u *url.URL) (hostTarget, error) {
	if strings.HasPrefix(u.Host, "[") {
		a, err := netip.ParseAddr(u.Hostname())
		if err != nil || !a.Is6() {
			return hostTarget{}, &URLError{Reason: "has an invalid IPv6 address"}
		}
		// Browsers refuse zones, and a zone only matters for link-local
		// addresses, which are refused anyway.
		if a.Zone() != "" {
			return hostTarget{}, &URLError{Reason: "must not use an IPv6 zone identifier"}
		}
		return hostTarget{addr: a}, nil
	}
	ascii, err := hostIDNA.ToASCII(u.Hostname())
	if err != nil || ascii == "" {
		return hostTarget{}, &URLError{Reason: "has an invalid host name"}
	}
	if strings.ContainsFunc(ascii, forbiddenDomainCodePoint) {
		return hostTarget{}, &URLError{Reason: "has an invalid host name"}
	}
	t, err := parseASCIIHost(ascii)
	if err != nil {
		return hostTarget{}, &URLError{Reason: "has an invalid IPv4 address"}
	}
	return t, nil
}

// parseDialHost reads a host handed to DialContext (brackets already
// removed). It is lenient where parseURLHost refuses, because whatever name
// it passes on is still resolved and judged at connect time.
func parseDialHost(host string) (hostTarget, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return hostTarget{addr: a}, nil
	}
	ascii, err := hostIDNA.ToASCII(host)
	if err != nil || ascii == "" {
		ascii = strings.ToLower(host)
	}
	return parseASCIIHost(ascii)
}

var errInvalidIPv4 = errors.New("netguard: host ends in a number but is not a valid IPv4 address")

// parseASCIIHost finishes the WHATWG host parser on an ASCII, lower-case
// host: a host whose last label is a number must be an IPv4 address.
func parseASCIIHost(ascii string) (hostTarget, error) {
	if endsInNumber(ascii) {
		a, ok := parseIPv4(ascii)
		if !ok {
			return hostTarget{}, errInvalidIPv4
		}
		return hostTarget{addr: a}, nil
	}
	trimmed := strings.TrimRight(ascii, ".")
	if trimmed == "localhost" || strings.HasSuffix(trimmed, ".localhost") {
		return hostTarget{localhost: true, name: ascii}, nil
	}
	return hostTarget{name: ascii}, nil
}

// hostIDNA is UTS #46 ToASCII with the options the WHATWG URL Standard's
// "domain to ASCII" uses (no STD3 rules, no hyphen checks, no DNS length
// check, non-transitional). It maps what a browser maps, so that fullwidth
// digits and dots (１２７．０．０．１) are read as 127.0.0.1 here too.
var hostIDNA = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.CheckJoiners(true),
	idna.CheckHyphens(false),
	idna.StrictDomainName(false),
	idna.Transitional(false),
	idna.VerifyDNSLength(false),
)

// forbiddenDomainCodePoint reports the WHATWG URL Standard's forbidden
// domain code points.
func forbiddenDomainCodePoint(r rune) bool {
	if r <= 0x20 || r == 0x7f {
		return true
	}
	return strings.ContainsRune("#%/:<>?@[\\]^|", r)
}

// The WHATWG IPv4 parser follows
// (https://url.spec.whatwg.org/#concept-ipv4-parser). It is written here
// because no maintained Go library implements it: net/netip and net.ParseIP
// accept only dotted-decimal, while browsers (and inet_aton) also read
// 2130706433, 0x7f.1, 0177.0.0.1 and 127.1 as 127.0.0.1.

// endsInNumber is the WHATWG "ends in a number checker".
func endsInNumber(host string) bool {
	parts := strings.Split(host, ".")
	if parts[len(parts)-1] == "" {
		if len(parts) == 1 {
			return false
		}
		parts = parts[:len(parts)-1]
	}
	last := parts[len(parts)-1]
	if last != "" && strings.Trim(last, "0123456789") == "" {
		return true
	}
	_, ok := parseIPv4Number(last)
	return ok
}

// parseIPv4 is the WHATWG IPv4 parser.
func parseIPv4(host string) (netip.Addr, bool) {
	parts := strings.Split(host, ".")
	if parts[len(parts)-1] == "" && len(parts) > 1 {
		parts = parts[:len(parts)-1]
	}
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	numbers := make([]uint64, len(parts))
	for i, part := range parts {
		n, ok := parseIPv4Number(part)
		if !ok {
			return netip.Addr{}, false
		}
		numbers[i] = n
	}
	for _, n := range numbers[:len(numbers)-1] {
		if n > 255 {
			return netip.Addr{}, false
		}
	}
	last := numbers[len(numbers)-1]
	if last >= 1<<(8*(5-len(numbers))) {
		return netip.Addr{}, false
	}
	v := last
	for i, n := range numbers[:len(numbers)-1] {
		v += n << (8 * (3 - i))
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// parseIPv4Number is the WHATWG IPv4 number parser: decimal, 0x hex or
// 0-prefixed octal. Values beyond 32 bits saturate, since the caller only
// needs to know they are too large.
func parseIPv4Number(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	base := uint64(10)
	switch {
	case len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X"):
		base, s = 16, s[2:]
	case len(s) >= 2 && s[0] == '0':
		base, s = 8, s[1:]
	}
	const saturated = 1 << 33
	var n uint64
	for i := 0; i < len(s); i++ {
		var d uint64
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			d = uint64(c - '0')
		case 'a' <= c && c <= 'f':
			d = uint64(c-'a') + 10
		case 'A' <= c && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		if n < saturated {
			n = n*base + d
		}
	}
	return n, true
}
