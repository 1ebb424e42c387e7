package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/seal"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/task"
)

// Clear is what WriteClear stored with its credentials in clear.
type Clear struct {
	TaskID, DeliveryID string
	// Webhook is the task's webhook as written, and the delivery's
	// credentials are the same.
	Webhook task.Webhook
	// Values are the secret parts of the credentials: what a search of the
	// store's files or tables must not find once they are sealed.
	Values []string
}

// WriteClear stores, as a node without the key (or an errand from before
// migration 003) does, a task whose webhook holds credentials in clear,
// finished with a delivery that holds them too.
func WriteClear(t *testing.T, s store.Store) Clear {
	t.Helper()
	ctx := t.Context()
	c := Clear{Values: []string{"clear-auth-31c7", "Y2xlYXItc2VjcmV0LTRhOWItcGFkZGluZy1wYWQ", "clear-pass-8d02"}}
	c.Webhook = task.Webhook{Name: "n", URL: "https://user:clear-pass-8d02@hooks.example/in?to=a@b.example",
		Auth: "Bearer clear-auth-31c7", Secret: "whsec_Y2xlYXItc2VjcmV0LTRhOWItcGFkZGluZy1wYWQ=", SubmittedData: task.SubmitJustPing}
	sess := newSession("ten_a")
	tk := newTask("clear")
	wh := c.Webhook
	tk.Spec.Webhook = &wh
	noErr(t, "CreateSession", s.CreateSession(ctx, sess, tk))
	d := delivery(tk, task.EventCompleted, c.Webhook.URL, 1)
	d.Auth, d.Secret = c.Webhook.Auth, c.Webhook.Secret
	noErr(t, "FinishTask", s.FinishTask(ctx, store.FinishParams{TaskID: tk.ID, Outcome: task.Outcome{Message: "ok"}, At: base, Deliveries: []task.Delivery{d}}))
	c.TaskID, c.DeliveryID = tk.ID, d.ID
	return c
}

// CheckSealed fails t unless s gives c's task webhook and delivery back
// with no credential in clear, sealed so that they open with box to what
// was written. It returns what s holds sealed.
func CheckSealed(t *testing.T, s store.Store, box *seal.Box, c Clear) (task.Webhook, task.Delivery) {
	t.Helper()
	ctx := t.Context()
	stripped := "https://hooks.example/in?to=a@b.example"
	d, err := s.Delivery(ctx, c.DeliveryID)
	noErr(t, "Delivery", err)
	if d.Auth != "" || d.Secret != "" || d.URL != stripped || len(d.SealedCredentials) == 0 {
		t.Fatalf("the delivery holds credentials in clear: %+v", d)
	}
	open, err := d.OpenCredentials(box)
	if err != nil || open.Auth != c.Webhook.Auth || open.Secret != c.Webhook.Secret || open.URL != c.Webhook.URL {
		t.Fatalf("the sealed delivery opens as %+v, %v; want the credentials written", open, err)
	}
	w := *mustTask(t, s, c.TaskID).Spec.Webhook
	if w.Auth != "" || w.Secret != "" || w.URL != stripped || len(w.SealedCredentials) == 0 {
		t.Fatalf("the task's webhook holds credentials in clear: %+v", w)
	}
	ow, err := w.OpenCredentials(box, c.TaskID)
	if err != nil || ow.Auth != c.Webhook.Auth || ow.Secret != c.Webhook.Secret || ow.URL != c.Webhook.URL || ow.Name != c.Webhook.Name {
		t.Fatalf("the task's sealed webhook opens as %+v, %v", ow, err)
	}
	return w, d
}

// Webhook credentials written in clear (before migration 003, or by a node
// without the key) are sealed when the store next opens with the key: the
// task's webhook in its spec and every delivery, each bound to its task, so
// that opening them gives back exactly what was written. Credentials
// already sealed are left as they are, and a store opened again finds
// nothing more to seal.
func testCredentialsSealedOnOpen(t *testing.T, h *harness) {
	ctx := ctxT(t)
	c := WriteClear(t, h.s)
	if got, _ := h.s.Delivery(ctx, c.DeliveryID); got.Auth != c.Webhook.Auth || got.SealedCredentials != nil {
		t.Fatalf("without a key the delivery changed: %+v", got)
	}
	// One written sealed by a node that had the key.
	box := seal.NewRandom()
	sealedWH := c.Webhook
	other := newTask("sealed")
	other.SessionID, other.TenantID = mustTask(t, h.s, c.TaskID).SessionID, "ten_a"
	sealedWH.SealCredentials(box, other.ID)
	other.Spec.Webhook = &sealedWH
	noErr(t, "AddTask", h.s.AddTask(ctx, other))

	s := h.reopenWith(Options{Credentials: box})
	w, d := CheckSealed(t, s, box, c)
	claimed, err := s.ClaimDeliveries(ctx, task.DeliveryClaim{Owner: "n", Now: base.Add(time.Second), Until: base.Add(time.Minute), Limit: 5})
	noErr(t, "ClaimDeliveries", err)
	if len(claimed) != 1 || claimed[0].Auth != "" || !bytes.Equal(claimed[0].SealedCredentials, d.SealedCredentials) {
		t.Fatalf("claimed %+v, want the delivery sealed as stored", claimed)
	}
	if got := mustTask(t, s, other.ID).Spec.Webhook; !bytes.Equal(got.SealedCredentials, sealedWH.SealedCredentials) {
		t.Fatal("a webhook sealed already was sealed again")
	}

	// Nothing left in clear: opening again, even with another key, changes
	// nothing.
	s = h.reopenWith(Options{Credentials: seal.NewRandom()})
	if again, _ := s.Delivery(ctx, c.DeliveryID); !bytes.Equal(again.SealedCredentials, d.SealedCredentials) {
		t.Fatal("the delivery was sealed again on the next open")
	}
	if again := mustTask(t, s, c.TaskID).Spec.Webhook; !bytes.Equal(again.SealedCredentials, w.SealedCredentials) {
		t.Fatal("the task's webhook was sealed again on the next open")
	}
}

// A redelivery to a new URL takes the credentials the caller gives: sealed
// ones replace the old (Auth and Secret then live in them), and a URL with
// its userinfo in clear (a node without the key) is sealed at the next
// open with the key.
func testRedeliverCredentials(t *testing.T, h *harness) {
	ctx := ctxT(t)
	box := seal.NewRandom()
	_, tasks := mustSession(t, h.s, "ten_a", "x", "y")
	finish := func(tk *task.Task, d task.Delivery) {
		t.Helper()
		noErr(t, "FinishTask", h.s.FinishTask(ctx, store.FinishParams{TaskID: tk.ID, Outcome: task.Outcome{Message: "ok"}, At: base, Deliveries: []task.Delivery{d}}))
	}

	// Sealed, to a new URL with new sealed credentials.
	d := delivery(tasks[0], task.EventCompleted, "https://old.example/h", 1)
	d.SealCredentials(box)
	finish(tasks[0], d)
	to := d
	to.URL, to.Auth, to.Secret, to.SealedCredentials = "https://u:new-pass@new.example/h", "Bearer new", "", nil
	to.SealCredentials(box)
	noErr(t, "Redeliver", h.s.Redeliver(ctx, store.RedeliverParams{ID: d.ID, URL: to.URL, SealedCredentials: to.SealedCredentials, MaxAttempts: 1}))
	got, _ := h.s.Delivery(ctx, d.ID)
	if got.URL != "https://new.example/h" || got.Auth != "" || !bytes.Equal(got.SealedCredentials, to.SealedCredentials) {
		t.Fatalf("after a redelivery with sealed credentials: %+v", got)
	}

	// In clear (no key), to a URL with userinfo: kept, then sealed on open.
	c := delivery(tasks[1], task.EventCompleted, "https://old.example/h", 1)
	c.Secret = ""
	finish(tasks[1], c)
	noErr(t, "Redeliver", h.s.Redeliver(ctx, store.RedeliverParams{ID: c.ID, URL: "https://u:clear-pass@new.example/h", MaxAttempts: 1}))
	if got, _ := h.s.Delivery(ctx, c.ID); got.URL != "https://u:clear-pass@new.example/h" || got.Auth != c.Auth {
		t.Fatalf("after a redelivery in clear: %+v", got)
	}
	s := h.reopenWith(Options{Credentials: box})
	got, _ = s.Delivery(ctx, c.ID)
	open, err := got.OpenCredentials(box)
	if got.URL != "https://new.example/h" || got.Auth != "" || err != nil ||
		open.URL != "https://u:clear-pass@new.example/h" || open.Auth != c.Auth {
		t.Fatalf("the redelivered delivery after opening with the key: %+v, opened %+v, %v", got, open, err)
	}
}
