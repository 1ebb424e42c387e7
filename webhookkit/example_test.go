package webhookkit_test

import (
	"log"
	"net/http"

	"github.com/errandhq/errand/webhookkit"
)

// A receiver for a webhook created with "auth": "Bearer your-secret-token"
// and a "secret": it checks both, drops duplicates, and handles each event.
func Example() {
	verifier, err := webhookkit.NewVerifier("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		log.Fatal(err)
	}
	seen := webhookkit.NewDeduper(0)

	http.HandleFunc("POST /webhooks/products", func(w http.ResponseWriter, r *http.Request) {
		if !webhookkit.CheckAuth(r, "Bearer your-secret-token") {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		body, err := verifier.VerifyRequest(r)
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		id := r.Header.Get(webhookkit.HeaderID)
		if seen.Seen(id) {
			w.WriteHeader(http.StatusOK) // a retry of what we already have
			return
		}
		p, err := webhookkit.Decode(r.Header.Get(webhookkit.HeaderEvent), body)
		if err != nil {
			seen.Forget(id)
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		switch p := p.(type) {
		case *webhookkit.Completed:
			log.Printf("task %s done: %s", p.TaskID, p.Data.Message)
		case *webhookkit.AIResponse:
			var product struct{ Title string }
			_ = p.DecodeInto(&product)
			log.Printf("task %s: %s", r.Header.Get(webhookkit.HeaderTaskID), product.Title)
		case *webhookkit.Failed:
			log.Printf("task %s failed: %s (%s)", p.TaskID, p.Error, p.Code)
		case *webhookkit.Guardrail:
			log.Printf("task %s asks: %s", p.TaskID, p.Data.Value)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	// http.ListenAndServe("127.0.0.1:9000", nil)
}
