package webhookkit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/webhook"
	"github.com/errandhq/errand/webhookkit"
)

// kitReceiver is a receiver written the way the kit's users write one:
// auth, signature, dedupe, decode. It keeps what it accepted.
type kitReceiver struct {
	auth     string
	verifier *webhookkit.Verifier
	dedupe   *webhookkit.Deduper

	mu         sync.Mutex
	payloads   []webhookkit.Payload
	duplicates int
}

func (k *kitReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !webhookkit.CheckAuth(r, k.auth) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, err := k.verifier.VerifyRequest(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if k.dedupe.Seen(r.Header.Get(webhookkit.HeaderID)) {
		k.mu.Lock()
		k.duplicates++
		k.mu.Unlock()
		w.WriteHeader(http.StatusOK) // acknowledged, not processed again
		return
	}
	p, err := webhookkit.Decode(r.Header.Get(webhookkit.HeaderEvent), body)
	if err != nil {
		k.dedupe.Forget(r.Header.Get(webhookkit.HeaderID))
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	k.mu.Lock()
	k.payloads = append(k.payloads, p)
	k.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// TestRealDeliveries: errand's own sender delivers every event × submittedData
// body, built by errand's payload builder, over loopback HTTP; the kit
// authenticates, verifies, dedupes and decodes each into the typed value.
func TestRealDeliveries(t *testing.T) {
	const auth = "Bearer kit-token"
	v, err := webhookkit.NewVerifier(secretA)
	if err != nil {
		t.Fatal(err)
	}
	rc := &kitReceiver{auth: auth, verifier: v, dedupe: webhookkit.NewDeduper(100)}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	sender := &webhook.Sender{Client: &http.Client{Transport: webhook.NewTransport(nil)}, UserAgent: "errand/test"}

	end := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	base := task.Task{
		ID: "task_1", SessionID: "sess_1", Status: task.StatusCompleted,
		Spec:    task.Spec{OutputType: task.OutputJSON},
		Message: `{"title":"Product Name","price":29.99}`,
		Usage:   task.Usage{InputTokens: 10, OutputTokens: 5, ComputeTime: 1.25, Cost: 0.01},
		EndedAt: end,
	}
	failed := base
	failed.Status, failed.ErrorCode, failed.ErrorMessage = task.StatusFailed, task.CodeTaskTimeout, "took too long"
	waiting := base
	waiting.Status, waiting.Question = task.StatusGuardrail, "Which colour?"
	ts := webhookkit.Timestamp{Time: end}
	usage := webhookkit.Usage{InputTokens: 10, OutputTokens: 5, ComputeTime: 1.25, Cost: 0.01}

	for _, c := range []struct {
		task  task.Task
		event task.Event
		sd    task.SubmittedData
		check func(t *testing.T, p webhookkit.Payload)
	}{
		{base, task.EventCompleted, task.SubmitFullResponse, func(t *testing.T, p webhookkit.Payload) {
			c := p.(*webhookkit.Completed)
			if c.Data.Message != base.Message || c.Data.TotalTokens != 15 || c.Usage != usage || !c.CompletedAt.Equal(end) {
				t.Errorf("%+v", c)
			}
		}},
		{base, task.EventCompleted, task.SubmitAIResponse, func(t *testing.T, p webhookkit.Payload) {
			var product struct {
				Title string  `json:"title"`
				Price float64 `json:"price"`
			}
			if err := p.(*webhookkit.AIResponse).DecodeInto(&product); err != nil || product.Title != "Product Name" || product.Price != 29.99 {
				t.Errorf("%+v %v", product, err)
			}
		}},
		{base, task.EventCompleted, task.SubmitJustPing, func(t *testing.T, p webhookkit.Payload) {
			if got := *p.(*webhookkit.CompletedPing); got != (webhookkit.CompletedPing{Event: "task_completed", SessionID: "sess_1", TaskID: "task_1", CompletedAt: ts}) {
				t.Errorf("%+v", got)
			}
		}},
		{failed, task.EventFailed, task.SubmitFullResponse, func(t *testing.T, p webhookkit.Payload) {
			want := webhookkit.Failed{Type: "task_failed", SessionID: "sess_1", TaskID: "task_1", Error: "took too long", Code: "TASK_TIMEOUT", Usage: usage, FailedAt: ts}
			if got := *p.(*webhookkit.Failed); got != want {
				t.Errorf("%+v", got)
			}
		}},
		{failed, task.EventFailed, task.SubmitAIResponse, func(t *testing.T, p webhookkit.Payload) {
			if got := p.(*webhookkit.Failed); got.Code != "TASK_TIMEOUT" {
				t.Errorf("%+v", got)
			}
		}},
		{failed, task.EventFailed, task.SubmitJustPing, func(t *testing.T, p webhookkit.Payload) {
			if got := *p.(*webhookkit.FailedPing); got != (webhookkit.FailedPing{Event: "task_failed", SessionID: "sess_1", TaskID: "task_1", FailedAt: ts}) {
				t.Errorf("%+v", got)
			}
		}},
		{waiting, task.EventGuardrail, task.SubmitFullResponse, func(t *testing.T, p webhookkit.Payload) {
			want := webhookkit.Guardrail{Type: "guardrail_trigger", SessionID: "sess_1", TaskID: "task_1",
				Data: webhookkit.GuardrailData{Type: "human_input_needed", Value: "Which colour?"}, Usage: usage, TriggeredAt: ts}
			if got := *p.(*webhookkit.Guardrail); got != want {
				t.Errorf("%+v", got)
			}
		}},
		{waiting, task.EventGuardrail, task.SubmitAIResponse, func(t *testing.T, p webhookkit.Payload) {
			if got := p.(*webhookkit.Guardrail); got.Data.Value != "Which colour?" {
				t.Errorf("%+v", got)
			}
		}},
		{waiting, task.EventGuardrail, task.SubmitJustPing, func(t *testing.T, p webhookkit.Payload) {
			if got := *p.(*webhookkit.GuardrailPing); got != (webhookkit.GuardrailPing{Event: "guardrail_trigger", SessionID: "sess_1", TaskID: "task_1", TriggeredAt: ts}) {
				t.Errorf("%+v", got)
			}
		}},
	} {
		name := fmt.Sprintf("%s-%s", c.event, c.sd)
		t.Run(name, func(t *testing.T) {
			body, err := webhook.Body(c.task, c.event, c.sd)
			if err != nil {
				t.Fatal(err)
			}
			d := task.Delivery{ID: "msg_" + name, TaskID: "task_1", SessionID: "sess_1", Event: c.event,
				URL: srv.URL, Auth: auth, Secret: secretB + " " + secretA, Body: body, MaxAttempts: 2}
			// Twice, as after a lost acknowledgement: one is processed.
			for attempt := 1; attempt <= 2; attempt++ {
				if res := sender.Send(context.Background(), d, attempt, time.Now()); !res.OK {
					t.Fatalf("attempt %d: %+v", attempt, res)
				}
			}
			rc.mu.Lock()
			p := rc.payloads[len(rc.payloads)-1]
			rc.mu.Unlock()
			if p.EventName() != string(c.event) {
				t.Errorf("event %s", p.EventName())
			}
			c.check(t, p)
		})
	}
	if rc.duplicates != 9 || len(rc.payloads) != 9 {
		t.Errorf("%d processed, %d duplicates dropped; want 9 and 9", len(rc.payloads), rc.duplicates)
	}
}

// TestRealDeliveryRejected: a delivery signed with a secret the receiver
// does not hold, or without the auth, is refused, and errand records why.
func TestRealDeliveryRejected(t *testing.T) {
	v, _ := webhookkit.NewVerifier(secretA)
	rc := &kitReceiver{auth: "Bearer right", verifier: v, dedupe: webhookkit.NewDeduper(10)}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	sender := &webhook.Sender{Client: &http.Client{Transport: webhook.NewTransport(nil)}}
	body := []byte(`{"text":"hi"}`)
	for _, c := range []struct {
		name, auth, secret string
	}{
		{"wrong secret", "Bearer right", secretB},
		{"no signature", "Bearer right", ""},
		{"wrong auth", "Bearer wrong", secretA},
		{"no auth", "", secretA},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := task.Delivery{ID: "msg_x", TaskID: "t", SessionID: "s", Event: task.EventCompleted,
				URL: srv.URL, Auth: c.auth, Secret: c.secret, Body: body}
			res := sender.Send(context.Background(), d, 1, time.Now())
			if res.OK || res.StatusCode != http.StatusUnauthorized || res.Retryable || res.Err != "status 401" {
				t.Errorf("%+v", res)
			}
		})
	}
	if len(rc.payloads) != 0 {
		t.Errorf("%d rejected deliveries processed", len(rc.payloads))
	}
}
