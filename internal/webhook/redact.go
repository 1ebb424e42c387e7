package webhook

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html"
	"net/url"
	"slices"
	"strings"

	"github.com/errandhq/errand/internal/task"
)

// redacted stands where a credential was.
const redacted = "[redacted]"

// redactor removes from a receiver's answer, an error or a log line every
// credential errand itself sent on one request, in whatever form a
// receiver may echo it back: as sent, JSON- or HTML-escaped,
// percent-encoded, base64 or hex, in any letter case. The credentials are
// the Authorization value (and its token, and a Basic pair's password),
// the signing secrets, the signature header, the URL's userinfo (and the
// Basic header net/http makes from it), and the URL's query, where tokens
// often live. A receiver that transforms them otherwise (hashes them,
// splits them) is beyond what can be recognised.
type redactor struct {
	// needles are lower-cased (ASCII) for a search of a lower-cased copy:
	// the copy keeps every byte offset, so matches map back exactly.
	needles []string
	longest int
}

// newRedactor lists what request d, signed with signature (the header
// value, "" when unsigned), carries.
func newRedactor(d task.Delivery, signature string) redactor {
	var values []string
	if a := strings.TrimSpace(d.Auth); a != "" {
		values = append(values, d.Auth, a)
		if scheme, cred, ok := strings.Cut(a, " "); ok {
			cred = strings.TrimSpace(cred)
			values = append(values, cred)
			if strings.EqualFold(scheme, "basic") {
				if pair, err := base64.StdEncoding.DecodeString(cred); err == nil {
					values = append(values, basicPair(string(pair))...)
				}
			}
		}
	}
	for _, s := range strings.Fields(d.Secret) {
		values = append(values, s, strings.TrimPrefix(s, "whsec_"))
	}
	for _, sig := range strings.Fields(signature) {
		_, mac, _ := strings.Cut(sig, ",")
		values = append(values, sig, mac)
	}
	if signature != "" {
		values = append(values, signature)
	}
	if _, userinfo := task.SplitUserinfo(d.URL); userinfo != "" {
		values = append(values, userinfo)
		if u, err := url.Parse("http://" + userinfo + "@x"); err == nil && u.User != nil {
			user := u.User.Username()
			pass, _ := u.User.Password()
			// net/http sends them as Basic base64(user:password), the
			// password empty when there is none.
			values = append(values, base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
			if pass != "" {
				values = append(values, basicPair(user+":"+pass)...)
			} else {
				values = append(values, user) // a token in the user's place
			}
		}
	}
	if u, err := url.Parse(d.URL); err == nil && u.RawQuery != "" {
		values = append(values, u.RawQuery)
	}

	seen := map[string]bool{}
	r := redactor{}
	for _, v := range values {
		for _, form := range forms(v) {
			n := asciiLower(form)
			if n == "" || seen[n] {
				continue
			}
			seen[n] = true
			r.needles = append(r.needles, n)
			r.longest = max(r.longest, len(n))
		}
	}
	return r
}

// basicPair is a "user:password" pair and its password: a receiver may
// echo the decoded pair or the password alone.
func basicPair(pair string) []string {
	out := []string{pair}
	if _, pass, ok := strings.Cut(pair, ":"); ok && pass != "" {
		out = append(out, pass)
	}
	return out
}

// forms are v as a receiver may echo it.
func forms(v string) []string {
	if v == "" {
		return nil
	}
	out := []string{v, url.QueryEscape(v), url.PathEscape(v), html.EscapeString(v), hex.EncodeToString([]byte(v))}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		out = append(out, enc.EncodeToString([]byte(v)))
	}
	q, _ := json.Marshal(v)       // a string: cannot fail
	js := string(q[1 : len(q)-1]) // without its quotes
	plain := jsonHTML.Replace(js) // as encoders that leave <, > and & be write it
	return append(out, js, plain, strings.ReplaceAll(js, "/", `\/`), strings.ReplaceAll(plain, "/", `\/`))
}

// jsonHTML undoes encoding/json's HTML escaping.
var jsonHTML = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")

// redact replaces every credential in s.
func (r redactor) redact(s string) string {
	if len(r.needles) == 0 || s == "" {
		return s
	}
	lower := asciiLower(s)
	var spans [][2]int
	for _, n := range r.needles {
		for off := 0; ; {
			i := strings.Index(lower[off:], n)
			if i < 0 {
				break
			}
			spans = append(spans, [2]int{off + i, off + i + len(n)})
			off += i + 1
		}
	}
	if len(spans) == 0 {
		return s
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		if sp[1] <= last {
			continue // inside what was redacted already
		}
		if sp[0] >= last {
			b.WriteString(s[last:sp[0]])
			b.WriteString(redacted)
		}
		last = sp[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// asciiLower lowers ASCII letters only, so that every byte keeps its
// offset.
func asciiLower(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return 'A' <= r && r <= 'Z' })
	if i < 0 {
		return s
	}
	b := []byte(s)
	for j := i; j < len(b); j++ {
		if c := b[j]; 'A' <= c && c <= 'Z' {
			b[j] = c + 'a' - 'A'
		}
	}
	return string(b)
}
