package agent

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/task"
)

func TestMatchHost(t *testing.T) {
	tests := []struct {
		pattern, url string
		want         bool
	}{
		{"example.com", "https://example.com/login", true},
		{"example.com", "https://www.example.com/", false},
		{"*.example.com", "https://example.com/", true},
		{"*.example.com", "https://sub.example.com/", true},
		{"*.example.com", "https://a.b.example.com:8443/", true},
		{"*.example.com", "https://notexample.com/", false},
		{"*.example.com", "https://example.com.evil.test/", false},
		{"*.Example.COM.", "https://SUB.example.com/", true},
		{"https://*.example.com", "http://example.com/", false},
		{"https://*.example.com", "https://example.com/", true},
		{"127.0.0.1:8080", "http://127.0.0.1:9999/", true},
		{"*", "https://anything.test/", true},
		{"", "https://example.com/", false},
		{"example.com", "about:blank", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.url, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if got := matchHost(tt.pattern, u); got != tt.want {
				t.Errorf("matchHost(%q, %q) = %v", tt.pattern, tt.url, got)
			}
		})
	}
}

func TestSecretsFillAndMask(t *testing.T) {
	s := newSecrets([]task.Secret{
		{Match: "*.shop.test", Fields: map[string]string{"email": "a@b.c", "password": "p w&<x>"}},
		{Match: "bank.test", Fields: map[string]string{"password": "bankpass"}},
	}, nil)
	if got := strings.Join(s.names(), ","); got != "email,password" {
		t.Errorf("names = %s", got)
	}

	got, used, err := s.fill("{{email}} / {{ password }}", "https://www.shop.test/login")
	if err != nil || !used || got != "a@b.c / p w&<x>" {
		t.Errorf("fill on shop = %q, %v, %v", got, used, err)
	}
	// The same name resolves to the secret of the page's site.
	if got, _, err := s.fill("{{password}}", "https://bank.test/"); err != nil || got != "bankpass" {
		t.Errorf("fill on bank = %q, %v", got, err)
	}
	if got, used, err := s.fill("plain text", "https://evil.test/"); err != nil || used || got != "plain text" {
		t.Errorf("fill without placeholders = %q, %v, %v", got, used, err)
	}
	var refusal *secretRefusal
	if _, _, err := s.fill("{{password}}", "https://evil.test/"); !errors.As(err, &refusal) || !strings.Contains(err.Error(), "SECRET_NOT_ALLOWED") {
		t.Errorf("fill on another site: %v", err)
	}
	if _, _, err := s.fill("{{pin}}", "https://www.shop.test/"); err == nil || !strings.Contains(err.Error(), "UNKNOWN_SECRET") {
		t.Errorf("fill of an unknown name: %v", err)
	}

	text := `value="p w&<x>" url=?pw=p+w%26%3Cx%3E path=/p%20w&%3Cx%3E html=p w&amp;&lt;x&gt; mail=a@b.c a%40b.c bankpass`
	masked := s.mask(text)
	for _, v := range []string{"p w&<x>", "p+w%26%3Cx%3E", "a@b.c", "a%40b.c", "bankpass", "&lt;x&gt;"} {
		if strings.Contains(masked, v) {
			t.Errorf("mask left %q in %q", v, masked)
		}
	}
	if !strings.Contains(masked, "{{password}}") || !strings.Contains(masked, "{{email}}") {
		t.Errorf("mask = %q", masked)
	}
	var none *secrets
	if none.mask("x") != "x" {
		t.Error("nil secrets mask")
	}
}

func TestSecretNeverSerialized(t *testing.T) {
	sec := task.Secret{Match: "x.test", Fields: map[string]string{"password": "hunter2"}}
	spec, err := json.Marshal(task.Spec{TaskDetails: "x", Secrets: []task.Secret{sec}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{sec.String(), sec.GoString(), sec.LogValue().String(), string(spec)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("%q shows the value", s)
		}
	}
}

// A TOTP seed is typed as the code valid at that moment, never as the
// seed; the seed (in any form) and every code typed are masked.
func TestSecretsTOTP(t *testing.T) {
	const seed = "JBSWY3DPEHPK3PXP"
	uri := "otpauth://totp/Shop:ada?secret=" + seed + "&issuer=Shop"
	now := time.Unix(1_700_000_000, 0)
	s := newSecrets([]task.Secret{
		{Match: "shop.test", Fields: map[string]string{"otp": uri, "pin": "totp:jbsw y3dp ehpk 3pxp"}},
		{Match: "bad.test", Fields: map[string]string{"code": "totp:not base32!"}},
	}, func() time.Time { return now })
	k, err := task.ParseTOTP(uri)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := k.Code(now)
	got, used, err := s.fill("{{otp}}", "https://shop.test/2fa")
	if err != nil || !used || got != want {
		t.Fatalf("fill({{otp}}) = %q, %v, %v; want the code %s", got, used, err, want)
	}
	if got, _, _ := s.fill("{{ pin }}", "https://shop.test/2fa"); got != want {
		t.Errorf("the totp: form gives %q, want %s", got, want)
	}
	// 30 s later the code is the next one.
	now = now.Add(30 * time.Second)
	next, _ := k.Code(now)
	if got, _, _ := s.fill("{{otp}}", "https://shop.test/2fa"); got != next || next == want {
		t.Errorf("30 s later fill = %q, want the next code %s (was %s)", got, next, want)
	}
	page := "code " + want + " then " + next + "; seed " + seed + " or " + uri
	masked := s.mask(page)
	for _, leak := range []string{want, next, seed, uri} {
		if strings.Contains(masked, leak) {
			t.Errorf("mask left %q in %q", leak, masked)
		}
	}
	// What trace screenshots cover includes the seed and the codes typed.
	vals := strings.Join(s.values(), " ")
	for _, v := range []string{seed, want, next} {
		if !strings.Contains(vals, v) {
			t.Errorf("values() lacks %q: %v", v, vals)
		}
	}
	if !s.isTOTP("otp") || s.isTOTP("password") {
		t.Error("isTOTP")
	}
	// Another site gets nothing, and a seed that does not parse is refused
	// rather than typed.
	if _, _, err := s.fill("{{otp}}", "https://evil.test/"); err == nil {
		t.Error("the code was typed on another site")
	}
	_, _, err = s.fill("{{code}}", "https://bad.test/")
	var ref *secretRefusal
	if !errors.As(err, &ref) || strings.Contains(err.Error(), "not base32") {
		t.Errorf("a bad seed: %v", err)
	}
}
