package agent

import (
	"fmt"
	"html"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/errandhq/errand/internal/task"
)

// secrets keeps a task's credentials away from the model: the model sees
// placeholders ({{email}}), the agent substitutes the values when typing on
// a matching host, and every text going to the model, to the step log or
// into the outcome passes through mask first.
//
// A value written as a TOTP seed (task.IsTOTP) is typed as the code valid
// at that moment; the seed, and every code typed, are masked like values.
type secrets struct {
	list []task.Secret
	// forms are every way a value may show up in text — as is, URL-query
	// encoded (a GET form puts it in the address), path encoded and HTML
	// escaped — longest first, so a value that contains another is replaced
	// whole.
	forms []secretForm
	seen  map[string]bool
	// totps are the values that are TOTP seeds, by value; bad are those
	// that do not parse (refused when typed; the API refuses them at
	// submission).
	totps map[string]task.TOTP
	bad   map[string]bool
	// codes are the TOTP codes typed so far.
	codes []string
	now   func() time.Time
}

type secretForm struct{ text, placeholder string }

var placeholderPattern = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}`)

// newSecrets prepares a task's secrets; now is the clock TOTP codes are
// computed at.
func newSecrets(list []task.Secret, now func() time.Time) *secrets {
	s := &secrets{list: list, seen: map[string]bool{}, totps: map[string]task.TOTP{}, bad: map[string]bool{}, now: now}
	for _, sec := range list {
		for name, v := range sec.Fields {
			if v == "" {
				continue
			}
			ph := "{{" + name + "}}"
			s.hide(v, ph)
			if task.IsTOTP(v) {
				k, err := task.ParseTOTP(v)
				if err != nil {
					s.bad[v] = true
					continue
				}
				s.totps[v] = k
				s.hide(k.Seed(), ph)
			}
		}
	}
	return s
}

// hide adds the forms of v to what mask replaces by ph.
func (s *secrets) hide(v, ph string) {
	added := false
	for _, f := range []string{v, url.QueryEscape(v), url.PathEscape(v), html.EscapeString(v)} {
		if !s.seen[f] {
			s.seen[f] = true
			s.forms = append(s.forms, secretForm{f, ph})
			added = true
		}
	}
	if added {
		sort.SliceStable(s.forms, func(i, j int) bool { return len(s.forms[i].text) > len(s.forms[j].text) })
	}
}

// typed is the text to type for value v of placeholder ph: v itself, or
// for a TOTP seed the code valid now (masked from then on, as it may be
// echoed by the page).
func (s *secrets) typed(v, ph string) (string, error) {
	if s.bad[v] {
		return "", &secretRefusal{fmt.Sprintf("BAD_SECRET: %s is a TOTP seed that does not parse; it cannot be typed", ph)}
	}
	k, ok := s.totps[v]
	if !ok {
		return v, nil
	}
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	code, err := k.Code(now())
	if err != nil {
		return "", &secretRefusal{fmt.Sprintf("BAD_SECRET: no code could be made from %s", ph)}
	}
	s.hide(code, ph)
	if !slices.Contains(s.codes, code) {
		s.codes = append(s.codes, code)
	}
	return code, nil
}

// isTOTP reports whether the placeholder name stands for a TOTP seed in
// any of the secrets.
func (s *secrets) isTOTP(name string) bool {
	for _, sec := range s.list {
		if v, ok := sec.Fields[name]; ok && task.IsTOTP(v) {
			return true
		}
	}
	return false
}

// names lists the placeholder names the model may use, sorted.
func (s *secrets) names() []string {
	var names []string
	for _, sec := range s.list {
		for name := range sec.Fields {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// mask replaces every occurrence of a secret value in text by its
// placeholder. Values are masked whatever their length: a short value
// mangles some text, but a leak is worse.
func (s *secrets) mask(text string) string {
	if s == nil || len(s.forms) == 0 || text == "" {
		return text
	}
	for _, f := range s.forms {
		if strings.Contains(text, f.text) {
			text = strings.ReplaceAll(text, f.text, f.placeholder)
		}
	}
	return text
}

// secretRefusal is a placeholder the agent will not fill; its message is
// for the model and names no value.
type secretRefusal struct{ msg string }

func (e *secretRefusal) Error() string { return e.msg }

// fill replaces the placeholders in text by their values for a page at
// pageURL. A placeholder of a known name whose secret does not match the
// page's host is refused, so that a page on another site (a phishing page, a
// redirect) never receives the value. Unknown names are refused too, rather
// than typed literally.
func (s *secrets) fill(text, pageURL string) (string, bool, error) {
	if !placeholderPattern.MatchString(text) {
		return text, false, nil
	}
	u, _ := url.Parse(pageURL)
	var refusal error
	used := false
	out := placeholderPattern.ReplaceAllStringFunc(text, func(ph string) string {
		name := placeholderPattern.FindStringSubmatch(ph)[1]
		known := false
		for _, sec := range s.list {
			v, ok := sec.Fields[name]
			if !ok {
				continue
			}
			known = true
			if u != nil && matchHost(sec.Match, u) {
				text, err := s.typed(v, "{{"+name+"}}")
				if err != nil {
					if refusal == nil {
						refusal = err
					}
					return ph
				}
				used = true
				return text
			}
		}
		if refusal == nil {
			host := ""
			if u != nil {
				host = u.Hostname()
			}
			if known {
				refusal = &secretRefusal{fmt.Sprintf("SECRET_NOT_ALLOWED: {{%s}} may not be used on %q; it is only for its own site", name, host)}
			} else {
				refusal = &secretRefusal{fmt.Sprintf("UNKNOWN_SECRET: there is no secret {{%s}}; available: %s", name, placeholderList(s.names()))}
			}
		}
		return ph
	})
	if refusal != nil {
		return "", false, refusal
	}
	return out, used, nil
}

// matchHost reports whether u's host fits pattern (see task.Secret.Match):
// "example.com" is that host only, "*.example.com" is example.com and all
// its subdomains (a login often lives on the apex or on a subdomain of the
// same owner), "*" is any host; "https://" or "http://" in front also
// requires the scheme. Ports are ignored; case and a trailing dot do not
// matter.
func matchHost(pattern string, u *url.URL) bool {
	p := strings.ToLower(strings.TrimSpace(pattern))
	if scheme, rest, ok := strings.Cut(p, "://"); ok {
		if scheme != strings.ToLower(u.Scheme) {
			return false
		}
		p = rest
	}
	p = strings.TrimSuffix(p, "/")
	if h, _, err := net.SplitHostPort(p); err == nil {
		p = h
	}
	p = strings.TrimSuffix(p, ".")
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" || p == "" {
		return false
	}
	if p == "*" {
		return true
	}
	if base, ok := strings.CutPrefix(p, "*."); ok {
		return host == base || strings.HasSuffix(host, "."+base)
	}
	return host == p
}

func placeholderList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "{{" + n + "}}"
	}
	return strings.Join(out, ", ")
}

// values lists the secret values, for what must be covered in screenshots.
// A TOTP seed's base32 part and every code typed are values too.
func (s *secrets) values() []string {
	var out []string
	add := func(v string) {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	for _, sec := range s.list {
		for _, v := range sec.Fields {
			add(v)
			if k, ok := s.totps[v]; ok {
				add(k.Seed())
			}
		}
	}
	for _, c := range s.codes {
		add(c)
	}
	return out
}
