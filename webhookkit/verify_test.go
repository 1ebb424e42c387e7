package webhookkit_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/errandhq/errand/webhookkit"
)

const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
)

func signed(t *testing.T, id string, ts time.Time, body string, secrets ...string) http.Header {
	t.Helper()
	sig, err := webhookkit.Sign(id, ts, []byte(body), secrets)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(webhookkit.HeaderID, id)
	h.Set(webhookkit.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(webhookkit.HeaderSignature, sig)
	return h
}

func TestVerify(t *testing.T) {
	now := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	const body = `{"event":"task_completed","sessionId":"s","taskId":"t","completedAt":"2024-01-15T10:30:00.000Z"}`
	with := func(h http.Header, k, v string) http.Header {
		h = h.Clone()
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	good := signed(t, "msg_1", now, body, secretA)
	official, _ := standardwebhooks.NewWebhook(secretA)
	officialSig, _ := official.Sign("msg_1", now, []byte(body))

	for _, c := range []struct {
		name      string
		h         http.Header
		body      string
		secrets   []string
		tolerance time.Duration
		want      error
	}{
		{"genuine", good, body, []string{secretA}, 0, nil},
		{"signed by the official library", with(good, webhookkit.HeaderSignature, officialSig), body, []string{secretA}, 0, nil},
		{"receiver rotating: second secret matches", good, body, []string{secretB, secretA}, 0, nil},
		{"sender rotating: second signature matches", signed(t, "msg_1", now, body, secretB, secretA), body, []string{secretA}, 0, nil},
		{"unknown versions skipped", with(good, webhookkit.HeaderSignature, "v2,abc v1a,xyz "+good.Get(webhookkit.HeaderSignature)), body, []string{secretA}, 0, nil},
		{"4 min 59 s old", signed(t, "msg_1", now.Add(-299*time.Second), body, secretA), body, []string{secretA}, 0, nil},
		{"tampered body", good, strings.Replace(body, `"t"`, `"u"`, 1), []string{secretA}, 0, webhookkit.ErrNoMatch},
		{"body with a trailing newline", good, body + "\n", []string{secretA}, 0, webhookkit.ErrNoMatch},
		{"other id", with(good, webhookkit.HeaderID, "msg_2"), body, []string{secretA}, 0, webhookkit.ErrNoMatch},
		{"other secret", good, body, []string{secretB}, 0, webhookkit.ErrNoMatch},
		{"timestamp changed", with(good, webhookkit.HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10)), body, []string{secretA}, 0, webhookkit.ErrNoMatch},
		{"signature without version", with(good, webhookkit.HeaderSignature, strings.TrimPrefix(good.Get(webhookkit.HeaderSignature), "v1,")), body, []string{secretA}, 0, webhookkit.ErrNoMatch},
		{"stale", signed(t, "msg_1", now.Add(-6*time.Minute), body, secretA), body, []string{secretA}, 0, webhookkit.ErrTooOld},
		{"from the future", signed(t, "msg_1", now.Add(6*time.Minute), body, secretA), body, []string{secretA}, 0, webhookkit.ErrTooNew},
		{"stale for a tight tolerance", signed(t, "msg_1", now.Add(-time.Minute), body, secretA), body, []string{secretA}, 30 * time.Second, webhookkit.ErrTooOld},
		{"fine for a loose tolerance", signed(t, "msg_1", now.Add(-time.Hour), body, secretA), body, []string{secretA}, 2 * time.Hour, nil},
		{"huge timestamp", with(good, webhookkit.HeaderTimestamp, "9223372036854775807"), body, []string{secretA}, 0, webhookkit.ErrTooNew},
		{"timestamp not a number", with(good, webhookkit.HeaderTimestamp, "2024-01-15T10:30:00Z"), body, []string{secretA}, 0, webhookkit.ErrInvalidTimestamp},
		{"no id", with(good, webhookkit.HeaderID, ""), body, []string{secretA}, 0, webhookkit.ErrMissingHeaders},
		{"no timestamp", with(good, webhookkit.HeaderTimestamp, ""), body, []string{secretA}, 0, webhookkit.ErrMissingHeaders},
		{"no signature", with(good, webhookkit.HeaderSignature, ""), body, []string{secretA}, 0, webhookkit.ErrMissingHeaders},
		{"malformed secret", good, body, []string{"whsec_nope"}, 0, webhookkit.ErrMalformedSecret},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := webhookkit.NewVerifier(c.secrets...)
			if err == nil {
				v.Tolerance = c.tolerance
				v.Now = func() time.Time { return now }
				err = v.Verify(c.h, []byte(c.body))
			}
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

// TestVerifyAcceptedByOfficialLibrary: what the kit signs, the official
// library verifies (the kit's Sign is errand's signer).
func TestVerifyAcceptedByOfficialLibrary(t *testing.T) {
	body := `{"csv":"a,b\n1,2\n"}`
	h := signed(t, "msg_x", time.Now(), body, secretB)
	wh, _ := standardwebhooks.NewWebhook(secretB)
	if err := wh.Verify([]byte(body), h); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyDefaults(t *testing.T) {
	if _, err := webhookkit.NewVerifier(); err == nil {
		t.Error("a verifier without a secret")
	}
	body := `{}`
	if err := webhookkit.Verify(signed(t, "m", time.Now(), body, secretA), []byte(body), []string{secretA}, 0); err != nil {
		t.Errorf("system clock, default tolerance: %v", err)
	}
	old := signed(t, "m", time.Now().Add(-10*time.Minute), body, secretA)
	if err := webhookkit.Verify(old, []byte(body), []string{secretA}, 0); !errors.Is(err, webhookkit.ErrTooOld) {
		t.Errorf("10 min old with the default tolerance: %v", err)
	}
}

// TestVerifyRequest runs over real HTTP: the handler verifies, and can
// still read the body afterwards; an oversized body is refused.
func TestVerifyRequest(t *testing.T) {
	v, err := webhookkit.NewVerifier(secretA)
	if err != nil {
		t.Fatal(err)
	}
	v.MaxBody = 64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := v.VerifyRequest(r)
		switch {
		case errors.Is(err, webhookkit.ErrBodyTooLarge):
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		case err != nil:
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		again := make([]byte, len(body)+1)
		n, _ := r.Body.Read(again)
		if string(again[:n]) != string(body) {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	for _, c := range []struct {
		name    string
		body    string
		signFor string
		want    int
	}{
		{"genuine", `{"text":"hi"}`, `{"text":"hi"}`, http.StatusNoContent},
		{"tampered", `{"text":"ho"}`, `{"text":"hi"}`, http.StatusUnauthorized},
		{"too large", strings.Repeat("x", 65), strings.Repeat("x", 65), http.StatusRequestEntityTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(c.body))
			for k, vs := range signed(t, "msg_1", time.Now(), c.signFor, secretA) {
				req.Header[k] = vs
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("status %d, want %d", resp.StatusCode, c.want)
			}
		})
	}
}

func TestCheckAuth(t *testing.T) {
	for _, c := range []struct {
		name     string
		header   string // "" : no header
		expected string
		want     bool
	}{
		{"match", "Bearer your-secret-token", "Bearer your-secret-token", true},
		{"other token", "Bearer other", "Bearer your-secret-token", false},
		{"prefix of the token", "Bearer your-secret", "Bearer your-secret-token", false},
		{"case matters", "bearer your-secret-token", "Bearer your-secret-token", false},
		{"missing header", "", "Bearer your-secret-token", false},
		{"nothing expected never matches", "", "", false},
		{"nothing expected, header sent", "Bearer x", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			if got := webhookkit.CheckAuth(r, c.expected); got != c.want {
				t.Errorf("got %v", got)
			}
		})
	}
}
