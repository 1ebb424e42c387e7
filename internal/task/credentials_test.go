package task_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/seal"
	"github.com/errandhq/errand/internal/task"
)

func TestSplitUserinfo(t *testing.T) {
	for _, tc := range []struct{ raw, stripped, userinfo string }{
		{"https://user:pa55@hooks.example/in?x=1#f", "https://hooks.example/in?x=1#f", "user:pa55"},
		{"https://token@hooks.example:8443", "https://hooks.example:8443", "token"},
		{"https://u%40x:p%2Fq@h.example/", "https://h.example/", "u%40x:p%2Fq"},
		{"https://a@b:c@h.example/", "https://h.example/", "a@b:c"},
		{"http://u:p@127.0.0.1:9/x", "http://127.0.0.1:9/x", "u:p"},
		// No userinfo: an '@' after the authority, an empty one, none at all.
		{"https://h.example/p@x", "https://h.example/p@x", ""},
		{"https://h.example?to=a@b.example", "https://h.example?to=a@b.example", ""},
		{"https://h.example#a@b", "https://h.example#a@b", ""},
		{"https://@h.example/", "https://@h.example/", ""},
		{"mailto:a@b.example", "mailto:a@b.example", ""},
		{"https://h.example", "https://h.example", ""},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			stripped, userinfo := task.SplitUserinfo(tc.raw)
			if stripped != tc.stripped || userinfo != tc.userinfo {
				t.Fatalf("SplitUserinfo = %q, %q; want %q, %q", stripped, userinfo, tc.stripped, tc.userinfo)
			}
			// net/url reads the same userinfo, and none in what is left.
			if u, err := url.Parse(tc.raw); err == nil && strings.Contains(tc.raw, "://") && userinfo != "" {
				mine, err := url.Parse("http://" + userinfo + "@x")
				if err != nil || *mine.User != *u.User {
					t.Fatalf("net/url reads userinfo %v, SplitUserinfo %q (%v)", u.User, userinfo, err)
				}
				if s, err := url.Parse(stripped); err != nil || s.User != nil {
					t.Fatalf("net/url still reads userinfo in %q (%v)", stripped, err)
				}
			}
		})
	}
}

func TestWebhookCredentialsSealed(t *testing.T) {
	box := seal.NewRandom()
	const (
		auth   = "Bearer auth-value-5c1e"
		secret = "whsec_c2VjcmV0LXZhbHVlLTlkM2EtcGFkZGluZy1wYWQ="
		pass   = "url-pass-77b0"
	)
	orig := task.Webhook{Name: "n", URL: "https://user:" + pass + "@hooks.example/in?q=1", Auth: auth, Secret: secret,
		SubmittedData: task.SubmitJustPing, MaxAttempts: 3}
	w := orig
	w.SealCredentials(box, "task_1")
	stored, _ := json.Marshal(w)
	for _, v := range []string{auth, "auth-value-5c1e", secret, "c2VjcmV0LXZhbHVlLTlkM2E", pass} {
		if strings.Contains(string(stored), v) {
			t.Fatalf("the sealed webhook's JSON holds %q: %s", v, stored)
		}
	}
	if w.URL != "https://hooks.example/in?q=1" || w.Auth != "" || w.Secret != "" || len(w.SealedCredentials) == 0 {
		t.Fatalf("sealed webhook: %+v", w)
	}
	again := w
	again.SealCredentials(box, "task_1")
	if string(again.SealedCredentials) != string(w.SealedCredentials) {
		t.Fatal("sealing a sealed webhook sealed it again")
	}

	var back task.Webhook
	if err := json.Unmarshal(stored, &back); err != nil {
		t.Fatal(err)
	}
	opened, err := back.OpenCredentials(box, "task_1")
	if err != nil {
		t.Fatal(err)
	}
	if opened.URL != orig.URL || opened.Auth != auth || opened.Secret != secret || opened.SealedCredentials != nil {
		t.Fatalf("opened webhook %+v, want %+v", opened, orig)
	}

	// The webhook's sealed credentials travel to its task's delivery unopened.
	d := task.Delivery{ID: "msg_1", TaskID: "task_1", URL: w.URL, SealedCredentials: w.SealedCredentials}
	sent, err := d.OpenCredentials(box)
	if err != nil || sent.URL != orig.URL || sent.Auth != auth || sent.Secret != secret {
		t.Fatalf("delivery opened as %+v, %v", sent, err)
	}

	// They open nowhere else: another task, another key.
	if _, err := back.OpenCredentials(box, "task_2"); !errors.Is(err, task.ErrCredentials) {
		t.Fatalf("opened for another task: %v", err)
	}
	if _, err := back.OpenCredentials(seal.NewRandom(), "task_1"); !errors.Is(err, task.ErrCredentials) {
		t.Fatalf("opened with another key: %v", err)
	}
	other := d
	other.TaskID = "task_2"
	if _, err := other.OpenCredentials(box); !errors.Is(err, task.ErrCredentials) {
		t.Fatalf("a delivery of another task opened them: %v", err)
	}

	// Nothing secret: nothing sealed.
	plain := task.Webhook{URL: "https://hooks.example/in?to=a@b.example"}
	plain.SealCredentials(box, "task_1")
	if plain.SealedCredentials != nil || plain.URL != "https://hooks.example/in?to=a@b.example" {
		t.Fatalf("a webhook without credentials became %+v", plain)
	}
}

func TestDeliveryCredentialsSealed(t *testing.T) {
	box := seal.NewRandom()
	orig := task.Delivery{ID: "msg_1", TaskID: "task_1", URL: "http://u:p@127.0.0.1:9/x", Auth: "Basic eDp5", Secret: "whsec_x"}
	d := orig
	d.SealCredentials(box)
	if d.URL != "http://127.0.0.1:9/x" || d.Auth != "" || d.Secret != "" || len(d.SealedCredentials) == 0 {
		t.Fatalf("sealed delivery: %+v", d)
	}
	got, err := d.OpenCredentials(box)
	if err != nil || got.URL != orig.URL || got.Auth != orig.Auth || got.Secret != orig.Secret {
		t.Fatalf("opened delivery %+v, %v; want %+v", got, err, orig)
	}
	if _, err := d.OpenCredentials(seal.NewRandom()); !errors.Is(err, task.ErrCredentials) {
		t.Fatalf("opened with another key: %v", err)
	}
}
