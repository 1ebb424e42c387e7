package recipe

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// URLPattern is the shape of a URL, for telling "the same page" from
// another one: scheme, host and port, the path with its variable segments
// (numbers, hashes, UUIDs, long tokens) written "*", and the names of the
// query parameters, sorted, without their values. The fragment does not
// count. A URL that does not parse is its own pattern.
//
//	https://shop.test/orders/12345?page=2&sort=asc  ->  https://shop.test/orders/*?page&sort
func URLPattern(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return strings.TrimSpace(raw)
	}
	var b strings.Builder
	b.WriteString(strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host))
	segs := strings.Split(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
	for _, s := range segs {
		b.WriteByte('/')
		if variable(s) {
			b.WriteByte('*')
		} else {
			b.WriteString(s)
		}
	}
	if keys := queryKeys(u.RawQuery); len(keys) > 0 {
		b.WriteString("?" + strings.Join(keys, "&"))
	}
	return b.String()
}

func queryKeys(q string) []string {
	var keys []string
	for part := range strings.SplitSeq(q, "&") {
		k, _, _ := strings.Cut(part, "=")
		if k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

var (
	digitsOnly = regexp.MustCompile(`^[0-9]+$`)
	uuidLike   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	hexLike    = regexp.MustCompile(`^[0-9a-fA-F]{8,}$`)
	tokenLike  = regexp.MustCompile(`^[A-Za-z0-9_~.%-]{16,}$`)
	hasDigit   = regexp.MustCompile(`[0-9]`)
)

// variable reports whether a path segment looks like an id rather than a
// name: 123, 5f3a9c0e…, a UUID, or a long token with digits in it.
func variable(seg string) bool {
	switch {
	case seg == "":
		return false
	case digitsOnly.MatchString(seg), uuidLike.MatchString(seg):
		return true
	case hexLike.MatchString(seg) && hasDigit.MatchString(seg):
		return true
	}
	return tokenLike.MatchString(seg) && hasDigit.MatchString(seg) && !strings.Contains(seg, "-") ||
		len(seg) >= 24 && hasDigit.MatchString(seg)
}

// SamePage reports whether a URL fits a pattern: the same scheme, host and
// path, "*" standing for any one segment. Query parameters do not count
// (a search page is the same page whatever was searched).
func SamePage(pattern, rawURL string) bool {
	p, _, _ := strings.Cut(pattern, "?")
	l, _, _ := strings.Cut(URLPattern(rawURL), "?")
	ps, ls := strings.Split(p, "/"), strings.Split(l, "/")
	if len(ps) != len(ls) {
		return false
	}
	for i := range ps {
		if ps[i] != ls[i] && ps[i] != "*" && ls[i] != "*" {
			return false
		}
	}
	return true
}
