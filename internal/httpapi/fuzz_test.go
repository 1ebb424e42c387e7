package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/engine"
	"github.com/errandhq/errand/internal/httpapi"
	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/store/sqlite"
)

// FuzzRequestDecoders sends arbitrary bodies to every POST route: no body
// of any shape gets a 500 or crashes the handler, and every answer is the
// documented JSON envelope.
func FuzzRequestDecoders(f *testing.F) {
	seeds := []string{
		``, `{}`, `[]`, `null`, `"x"`, `{"mode":"default"}`,
		`{"initialTask":{"taskDetails":"x","startingPoint":"https://example.com","outputType":"structured_json","outputSchema":{"type":"object","properties":{"a":{"type":"string"}}}}}`,
		`{"initialTask":{"taskDetails":"x","webhook":{"name":"n","url":"https://h.example/x","submittedData":"ai_response","events":["task_failed"],"maxAttempts":3,"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}}`,
		`{"taskDetails":"x","startingUrl":"http://[::1]:80/","outputType":"structured_csv","outputSchema":["a","b"]}`,
		`{"taskDetails":"x","outputType":"structured","outputSchema":{"$ref":"https://evil.example/s.json"}}`,
		`{"sessionId":"sess_x","message":{"actionType":"newTask","taskDetails":"x","maxDuration":1e400}}`,
		`{"sessionId":"sess_x","message":{"actionType":"state","newState":"pause"}}`,
		`{"sessionId":"sess_x","message":{"actionType":"guardrail","taskDetails":"yes","newState":"resume"}}`,
		`{"taskDetails":"x","avoidDomains":["a.com",null,3],"maxInputTokens":-0}`,
		`{"initialTask":{"taskDetails":"x","outputSchema":{"type":"object","properties":{"a":{"$ref":"#/$defs/nope"}}},"outputType":"structured_json"}}`,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	st, err := sqlite.Open(f.Context(), sqlite.Config{Path: filepath.Join(f.TempDir(), "errand.db")})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	eng := engine.New(engine.Config{Store: st})
	h := httpapi.NewHandler(httpapi.Deps{
		Engine: eng, Store: st, Policy: netguard.New(netguard.Config{}), BootstrapKey: "k",
	})
	routes := []string{"/start/start-session", "/start/send-message", "/start/run-task"}
	f.Fuzz(func(t *testing.T, body string) {
		for _, route := range routes {
			req := httptest.NewRequest("POST", route, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer k")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %q: %d %s", route, body, rec.Code, rec.Body)
			}
			var m map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
				t.Fatalf("%s %q: answer is not JSON: %q", route, body, rec.Body)
			}
			if rec.Code != http.StatusOK {
				if m["success"] != false || m["code"] == "" || m["error"] == "" {
					t.Fatalf("%s %q: not the error envelope: %s", route, body, rec.Body)
				}
			}
		}
	})
}
