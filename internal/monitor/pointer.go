package monitor

import (
	"fmt"
	"strconv"
	"strings"
)

// Wildcard is the watch-pointer token that matches every item of an array
// (or every row of a CSV answer): "/products/*/price". It is an extension
// of RFC 6901 used only in watch lists.
const Wildcard = "*"

// splitPointer parses a JSON Pointer (RFC 6901) into its unescaped tokens.
// "" is the whole document.
func splitPointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("must be a JSON Pointer: empty, or starting with '/'")
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		for j := 0; j < len(s); j++ {
			if s[j] == '~' && (j+1 == len(s) || (s[j+1] != '0' && s[j+1] != '1')) {
				return nil, fmt.Errorf("must be a JSON Pointer: '~' must be followed by 0 or 1")
			}
		}
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts, nil
}

// joinPointer writes tokens as a JSON Pointer.
func joinPointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(escapeToken(t))
	}
	return b.String()
}

func escapeToken(t string) string {
	return strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")
}

// index parses an array index token: digits, no leading zero.
func index(token string) (int, bool) {
	if token == "" || (len(token) > 1 && token[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(token); i++ {
		if token[i] < '0' || token[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(token)
	return n, err == nil
}

// resolve finds the value at tokens in a decoded document (maps, slices and
// scalars as decodeAnswer gives them).
func resolve(doc any, tokens []string) (any, bool) {
	cur := doc
	for _, t := range tokens {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[t]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, ok := index(t)
			if !ok || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// agree reports whether a change at path tokens p is seen by watch pattern
// w: on their common length every token matches (Wildcard matches any).
// So watching /products sees /products/2/price, and watching
// /products/*/price sees an added item /products/3 as well as
// /products/2/price, but not /products/2/name.
func agree(w, p []string) bool {
	n := min(len(w), len(p))
	for i := 0; i < n; i++ {
		if w[i] != Wildcard && w[i] != p[i] {
			return false
		}
	}
	return true
}
