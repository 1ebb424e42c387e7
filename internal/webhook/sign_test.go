package webhook

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/errandhq/errand/webhookkit"
)

// vector is one committed signing test vector.
type vector struct {
	Name      string   `json:"name"`
	MsgID     string   `json:"msgId"`
	Timestamp int64    `json:"timestamp"`
	Body      string   `json:"body"`
	Secrets   []string `json:"secrets"`
	Signature string   `json:"signature"`
}

const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"                                                         // 24 bytes, the spec's example
	secretB = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="                                             // 32 bytes
	secretC = "whsec_/////////////////////////////////////////////////////////////////////////////////////w==" // 64 bytes
)

// vectorInputs are the inputs of testdata/signatures.json; -update rewrites
// the file's signatures from the current code.
var vectorInputs = []vector{
	{Name: "seed full_response body", MsgID: "msg_2bXkq1", Timestamp: 1705314600,
		Body:    `{"type":"task_completed","sessionId":"sess_abc123","taskId":"task_xyz789","data":{"message":"{\"title\":\"Product Name\",\"price\":29.99}","prompt_tokens":8500,"completion_tokens":2300,"total_tokens":10800,"completion_time":12.5},"usage":{"inputTokens":8500,"outputTokens":2300,"computeTime":12.5,"cost":0.0124},"completedAt":"2024-01-15T10:30:00.000Z"}`,
		Secrets: []string{secretA}},
	{Name: "empty body", MsgID: "msg_empty", Timestamp: 0, Body: ``, Secrets: []string{secretB}},
	{Name: "unicode body", MsgID: "msg_ü", Timestamp: 1705314600, Body: `{"text":"naïve café — 東京"}`, Secrets: []string{secretC}},
	{Name: "rotation, three secrets", MsgID: "msg_rot", Timestamp: 4102444800,
		Body: `{"event":"task_completed","sessionId":"s","taskId":"t","completedAt":"2100-01-01T00:00:00.000Z"}`, Secrets: []string{secretA, secretB, secretC}},
}

// TestSignVectors is the drift guard: the committed signatures must come
// out of the code unchanged from the committed inputs, and the official
// library must accept them. go test -update rewrites the file from
// vectorInputs.
func TestSignVectors(t *testing.T) {
	path := filepath.Join("testdata", "signatures.json")
	if *update {
		var out []vector
		for _, v := range vectorInputs {
			sig, err := Sign(v.MsgID, time.Unix(v.Timestamp, 0), []byte(v.Body), v.Secrets)
			if err != nil {
				t.Fatalf("%s: %v", v.Name, err)
			}
			v.Signature = sig
			out = append(out, v)
		}
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	var vectors []vector
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) != len(vectorInputs) {
		t.Fatalf("%d committed vectors, %d in the code (go test -update)", len(vectors), len(vectorInputs))
	}
	for _, w := range vectors {
		t.Run(w.Name, func(t *testing.T) {
			got, err := Sign(w.MsgID, time.Unix(w.Timestamp, 0), []byte(w.Body), w.Secrets)
			if err != nil {
				t.Fatal(err)
			}
			if got != w.Signature {
				t.Errorf("signature drifted:\ngot  %s\nwant %s", got, w.Signature)
			}
			if n := len(strings.Fields(w.Signature)); n != len(w.Secrets) {
				t.Errorf("%d signatures for %d secrets", n, len(w.Secrets))
			}
			h := headers(w.MsgID, w.Timestamp, w.Signature)
			for _, s := range w.Secrets {
				wh, err := standardwebhooks.NewWebhook(s)
				if err != nil {
					t.Fatal(err)
				}
				if err := wh.VerifyIgnoringTimestamp([]byte(w.Body), h); err != nil {
					t.Errorf("official library rejects it with one secret: %v", err)
				}
			}
		})
	}
}

// TestSignSpecExample is the Standard Webhooks reference example, from the
// official library's own tests: an independent anchor for the HMAC.
func TestSignSpecExample(t *testing.T) {
	got, err := Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`), []string{secretA})
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestSignOfficialVerify: fresh signatures verify with the official
// library's timestamp check; a tampered body, id or timestamp, a stale or
// future timestamp, or another secret do not.
func TestSignOfficialVerify(t *testing.T) {
	now := time.Now() // the official library checks against the system clock
	body := []byte(`{"event":"task_completed","sessionId":"s","taskId":"t","completedAt":"2024-01-15T10:30:00.000Z"}`)
	wh, err := standardwebhooks.NewWebhook(secretB)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(id string, ts time.Time, secrets ...string) string {
		s, err := Sign(id, ts, body, secrets)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, c := range []struct {
		name string
		h    http.Header
		body []byte
		want error // nil: verifies
	}{
		{"genuine", headers("msg_1", now.Unix(), sign("msg_1", now, secretB)), body, nil},
		{"rotation: one of several", headers("msg_1", now.Unix(), sign("msg_1", now, secretA, secretB)), body, nil},
		{"tampered body", headers("msg_1", now.Unix(), sign("msg_1", now, secretB)), []byte(strings.Replace(string(body), `"t"`, `"u"`, 1)), standardwebhooks.ErrNoMatchingSignature},
		{"other id", headers("msg_2", now.Unix(), sign("msg_1", now, secretB)), body, standardwebhooks.ErrNoMatchingSignature},
		{"other timestamp", headers("msg_1", now.Unix()+1, sign("msg_1", now, secretB)), body, standardwebhooks.ErrNoMatchingSignature},
		{"other secret", headers("msg_1", now.Unix(), sign("msg_1", now, secretA)), body, standardwebhooks.ErrNoMatchingSignature},
		{"stale timestamp", headers("msg_1", now.Add(-10*time.Minute).Unix(), sign("msg_1", now.Add(-10*time.Minute), secretB)), body, standardwebhooks.ErrMessageTooOld},
		{"future timestamp", headers("msg_1", now.Add(10*time.Minute).Unix(), sign("msg_1", now.Add(10*time.Minute), secretB)), body, standardwebhooks.ErrMessageTooNew},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := wh.Verify(c.body, c.h)
			if c.want == nil && err != nil {
				t.Fatalf("official library rejects it: %v", err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestSignErrors(t *testing.T) {
	for _, c := range []struct {
		name    string
		id      string
		secrets []string
	}{
		{"no secret", "msg_1", nil},
		{"empty id", "", []string{secretA}},
		{"one bad secret among good", "msg_1", []string{secretA, "whsec_short"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Sign(c.id, time.Unix(0, 0), []byte("{}"), c.secrets); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestParseSecret(t *testing.T) {
	for _, c := range []struct {
		name   string
		secret string
		bytes  int // 0: must be refused
	}{
		{"spec example, 24 bytes", secretA, 24},
		{"32 bytes", secretB, 32},
		{"64 bytes", secretC, 64},
		{"no prefix", strings.TrimPrefix(secretB, "whsec_"), 0},
		{"wrong prefix", "whsk_" + strings.TrimPrefix(secretB, "whsec_"), 0},
		{"empty", "", 0},
		{"prefix only", "whsec_", 0},
		{"not base64", "whsec_not*base64!at-all-but-long-enough-to-count", 0},
		{"url-safe alphabet", "whsec_" + strings.ReplaceAll(strings.TrimPrefix(secretC, "whsec_"), "/", "_"), 0},
		{"missing padding", strings.TrimSuffix(secretB, "="), 0},
		{"too short, 16 bytes", "whsec_AAECAwQFBgcICQoLDA0ODw==", 0},
		{"too long, 66 bytes", "whsec_" + strings.Repeat("A", 88), 0},
		{"whitespace", " " + secretB, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			key, err := ParseSecret(c.secret)
			if c.bytes == 0 {
				if err == nil {
					t.Fatalf("accepted, %d bytes", len(key))
				}
				if !errors.Is(err, webhookkit.ErrMalformedSecret) {
					t.Errorf("err %v does not wrap ErrMalformedSecret", err)
				}
				if rest := strings.TrimPrefix(c.secret, "whsec_"); len(rest) > 8 && strings.Contains(err.Error(), rest) {
					t.Errorf("error repeats the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(key) != c.bytes {
				t.Errorf("%d bytes, want %d", len(key), c.bytes)
			}
		})
	}
}

func headers(id string, unix int64, sig string) http.Header {
	h := http.Header{}
	h.Set(webhookkit.HeaderID, id)
	h.Set(webhookkit.HeaderTimestamp, strconv.FormatInt(unix, 10))
	h.Set(webhookkit.HeaderSignature, sig)
	return h
}
