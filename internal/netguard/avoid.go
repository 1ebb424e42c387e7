package netguard

import (
	"net/url"
	"strings"
)

// DomainMatcher matches hosts against a task's avoidDomains: each listed
// domain and all of its subdomains, case-insensitively, ignoring trailing
// dots. "example.com" matches "example.com" and "www.example.com" but not
// "notexample.com". Entries may be written as "*.example.com", ".example.com"
// or a URL; internationalized names match their punycode form. An entry that
// is an IP address matches that address in any spelling. The zero value
// matches nothing.
type DomainMatcher struct {
	domains []string
}

// NewDomainMatcher prepares avoid for repeated matching, as a fetcher does
// on every redirect hop and a proxy on every connection.
func NewDomainMatcher(avoid []string) DomainMatcher {
	var m DomainMatcher
	for _, entry := range avoid {
		entry = strings.TrimSpace(entry)
		if strings.Contains(entry, "://") {
			if u, err := url.Parse(entry); err == nil {
				entry = u.Hostname()
			}
		}
		entry = strings.TrimPrefix(entry, "*")
		entry = strings.TrimLeft(entry, ".")
		if d := normalizeDomain(entry); d != "" {
			m.domains = append(m.domains, d)
		}
	}
	return m
}

// Match reports whether host (a URL's Hostname(), no port) is one of the
// domains or a subdomain of one.
func (m DomainMatcher) Match(host string) bool {
	h := normalizeDomain(host)
	if h == "" {
		return false
	}
	for _, d := range m.domains {
		if h == d || strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	return false
}

// Avoided reports whether host is one of the avoid domains or a subdomain of
// one. Build a [DomainMatcher] once instead when matching many hosts.
func Avoided(host string, avoid []string) bool {
	return NewDomainMatcher(avoid).Match(host)
}

// normalizeDomain brings a host to the form both sides are compared in:
// ASCII, lower case, no brackets or trailing dots, and IP addresses in their
// canonical spelling.
func normalizeDomain(host string) string {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ascii, err := hostIDNA.ToASCII(host); err == nil {
		host = ascii
	} else {
		host = strings.ToLower(host)
	}
	if t, err := parseDialHost(host); err == nil && t.addr.IsValid() {
		return t.addr.WithZone("").Unmap().String()
	}
	return strings.TrimRight(host, ".")
}
