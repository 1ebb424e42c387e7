package webhook

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/errandhq/errand/webhookkit"
)

// echoJSON answers 500 with the request it got as JSON: its headers, URL
// and body, the way request bins and test endpoints echo. With straddle,
// padding comes first, so that the snippet's end cuts the echoed
// Authorization value after its 12th byte.
func echoJSON(straddle bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b, _ := json.Marshal(map[string]any{"headers": r.Header, "url": r.URL.String(), "body": string(body)})
		w.WriteHeader(500)
		if straddle {
			const key = `"Authorization":["`
			at := strings.Index(string(b), key) + len(key)
			io.WriteString(w, strings.Repeat(".", SnippetSize-at-12))
		}
		w.Write(b)
	}
}

// TestSendRedactsEchoedCredentials: a receiver that echoes the request as
// JSON gets nothing into the recorded snippet or error that decodes to a
// credential errand sent: the auth value (JSON-escaped by the echo), the
// Basic header net/http makes from a URL's userinfo (base64), the
// signature and the secret, also when the echo straddles the snippet's
// end.
func TestSendRedactsEchoedCredentials(t *testing.T) {
	const (
		auth = `Token abc<def>&ghi"jkl/mno-7c1e`
		user = "hook-user"
		pass = "p<a>ss&w/rd-3f9a"
		tok  = "tok3n-in-the-user-place-8b2d"
	)
	for _, c := range []struct {
		name     string
		userinfo string
		auth     string
		straddle bool
		secrets  []string
	}{
		{"auth, escaped by the echo", "", auth, false, []string{auth, strings.TrimPrefix(auth, "Token ")}},
		{"password in the URL, sent as Basic", user + ":" + url_(pass), "", false, []string{pass, user + ":" + pass}},
		{"token in the URL's user", tok, "", false, []string{tok}},
		{"auth across the snippet's end", "", auth, true, []string{auth, strings.TrimPrefix(auth, "Token ")}},
		{"Basic across the snippet's end", user + ":" + url_(pass), "", true, []string{pass, user + ":" + pass}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc := newReceiver(t, echoJSON(c.straddle))
			u := rc.URL + "/hooks"
			if c.userinfo != "" {
				u = strings.Replace(u, "http://", "http://"+c.userinfo+"@", 1)
			}
			d := delivery(u)
			d.Auth, d.Secret = c.auth, secretB
			now := time.Now()
			res := newSender().Send(context.Background(), d, 1, now)
			if res.StatusCode != 500 || res.Snippet == "" {
				t.Fatalf("the echo did not come back: %+v", res)
			}
			sig, err := Sign(d.ID, now, d.Body, []string{secretB})
			if err != nil {
				t.Fatal(err)
			}
			_, mac, _ := strings.Cut(sig, ",")
			secrets := append(c.secrets, strings.TrimPrefix(secretB, "whsec_"), mac)
			if got := rc.got()[0].header.Get(webhookkit.HeaderSignature); got != sig {
				t.Fatalf("sent signature %q, want %q", got, sig)
			}
			for _, where := range []struct{ name, text string }{{"snippet", res.Snippet}, {"error", res.Err}} {
				if leaked := leaks(where.text, secrets); len(leaked) > 0 {
					t.Errorf("the %s shows %q: %s", where.name, leaked, where.text)
				}
			}
			if len(res.Snippet) > SnippetSize {
				t.Errorf("snippet of %d bytes, want at most %d", len(res.Snippet), SnippetSize)
			}
			if !c.straddle && !strings.Contains(res.Snippet, "[redacted]") {
				t.Errorf("nothing redacted in %s", res.Snippet)
			}
		})
	}
}

// url_ percent-encodes a userinfo part as a URL must carry it.
func url_(s string) string {
	r := strings.NewReplacer("<", "%3C", ">", "%3E", "&", "%26", "/", "%2F")
	return r.Replace(s)
}

var (
	jsonEscape = regexp.MustCompile(`\\u[0-9a-fA-F]{4}|\\["\\/]`)
	b64Run     = regexp.MustCompile(`[A-Za-z0-9+/_-]{6,}={0,2}`)
)

// leaks lists the secrets that text holds, as they are or once decoded:
// JSON escapes undone, and every run that looks like base64 decoded, and
// any prefix of 8 bytes or more of a secret cut off at the text's end.
func leaks(text string, secrets []string) []string {
	unescaped := jsonEscape.ReplaceAllStringFunc(text, func(e string) string {
		if strings.HasPrefix(e, `\u`) {
			n, _ := strconv.ParseUint(e[2:], 16, 32)
			return string(rune(n))
		}
		return e[1:]
	})
	views := []string{text, unescaped}
	for _, v := range []string{text, unescaped} {
		for _, run := range b64Run.FindAllString(v, -1) {
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
				if b, err := enc.DecodeString(run); err == nil {
					views = append(views, string(b))
				}
			}
		}
	}
	var out []string
	for _, s := range secrets {
		for _, v := range views {
			if strings.Contains(v, s) || cutAtEnd(v, s) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// cutAtEnd reports whether text ends with 8 bytes or more of secret's
// beginning.
func cutAtEnd(text, secret string) bool {
	for n := min(len(secret)-1, len(text)); n >= 8; n-- {
		if strings.HasSuffix(text, secret[:n]) {
			return true
		}
	}
	return false
}

func TestRedactForms(t *testing.T) {
	d := delivery("https://u:p%40ss-W0rd@hooks.example/in?key=Q-T0KEN")
	d.Auth = "Bearer T0k/en+9"
	r := newRedactor(d, "v1,c2lnbmF0dXJl")
	for _, c := range []struct{ in, want string }{
		{"as sent: Bearer T0k/en+9.", "as sent: [redacted]."},
		{"token alone: T0k/en+9", "token alone: [redacted]"},
		{"any case: bearer t0K/EN+9", "any case: [redacted]"},
		{`json: "T0k\/en+9"`, `json: "[redacted]"`},
		{"percent, lower hex: t0k%2fen%2b9", "percent, lower hex: [redacted]"},
		{"base64: VDBrL2VuKzk=", "base64: [redacted]"},
		{"password decoded: p@ss-W0rd; encoded: p%40ss-W0rd", "password decoded: [redacted]; encoded: [redacted]"},
		{"Basic dTpwQHNzLVcwcmQ=", "Basic [redacted]"},
		{"signature v1,c2lnbmF0dXJl", "signature [redacted]"},
		{"query key=Q-T0KEN", "query [redacted]"},
		{"überall T0k/en+9 ✓", "überall [redacted] ✓"},
		{"nothing to hide", "nothing to hide"},
	} {
		if got := r.redact(c.in); got != c.want {
			t.Errorf("redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if n := (newRedactor(delivery("https://hooks.example/in"), "")).needles; len(n) != 0 {
		t.Errorf("a request without credentials has needles %q", n)
	}
}

// FuzzRedact: whatever a receiver answers, nothing errand sent survives
// redaction, and an answer holding none of it comes back unchanged.
func FuzzRedact(f *testing.F) {
	d := delivery("https://u:p%40ss-W0rd@hooks.example/in?key=Q-T0KEN")
	d.Auth, d.Secret = "Bearer T0k/en+9", secretB
	r := newRedactor(d, "v1,c2lnbmF0dXJl")
	for _, s := range []string{"", "Bearer T0k/en+9", `{"Authorization":["Basic dTpwQHNzLVcwcmQ="]}`, "T0k/en+T0k/en+9", "ü T0K/EN+9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := r.redact(s)
		lower := asciiLower(out)
		for _, n := range r.needles {
			if strings.Contains(lower, n) && !strings.Contains(asciiLower(redacted), n) {
				t.Fatalf("redact(%q) = %q still holds %q", s, out, n)
			}
		}
		if out != s && !strings.Contains(out, redacted) {
			t.Fatalf("redact(%q) = %q changed without redacting", s, out)
		}
	})
}

// BenchmarkRedact: what clearing an attempt's answer costs, from the
// request's credentials to a redacted 1 KiB echo.
func BenchmarkRedact(b *testing.B) {
	d := delivery("https://u:p%40ss-W0rd@hooks.example/in?key=Q-T0KEN")
	d.Auth, d.Secret = "Bearer T0k/en+9", secretB
	answer := strings.Repeat(`{"headers":{"Authorization":["Bearer T0k/en+9"]},"body":"lorem ipsum"} `, 16)[:SnippetSize]
	for b.Loop() {
		_ = newRedactor(d, "v1,c2lnbmF0dXJl").redact(answer)
	}
}
