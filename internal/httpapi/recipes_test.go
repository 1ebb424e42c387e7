package httpapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/recipe"
	"github.com/errandhq/errand/internal/store"
)

// The recipe routes answer as documented, show a key only its own
// recipes, and name bad input.
func TestRecipeRoutes(t *testing.T) {
	var st store.Store
	l := newLiveAPIWith(t, func(d *Deps) { st = d.Store })
	ctx := t.Context()
	at := time.Date(2025, 2, 1, 9, 0, 0, 0, time.UTC)
	tr := recipe.Trace{Format: recipe.Format, Steps: []recipe.Step{{Tool: "navigate", Start: true}, {Tool: "click", Element: &recipe.Element{Role: "button", Name: "Next"}}}}
	for _, r := range []recipe.Recipe{
		{TenantID: BootstrapTenant, Name: "daily-prices", TaskID: "task_a", Reason: "recorded by task task_a", Trace: tr, CreatedAt: at},
		{TenantID: BootstrapTenant, Name: "daily-prices", TaskID: "task_b", Reason: "healed", Trace: tr, CreatedAt: at.Add(time.Hour)},
		{TenantID: "tenant_other", Name: "theirs", TaskID: "task_c", Trace: tr, CreatedAt: at},
	} {
		if _, err := st.SaveRecipe(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RecordRecipeUse(ctx, recipe.Use{TenantID: BootstrapTenant, Name: "daily-prices", Version: 2, TaskID: "task_d", Mode: recipe.ModeReplayed, At: at.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}

	code, m := l.call(t, "GET", "/recipes", "/recipes", "", true)
	if code != 200 {
		t.Fatalf("GET /recipes: %d %v", code, m)
	}
	b, _ := json.Marshal(m["recipes"])
	want := `[{"failed":0,"healed":0,"lastUsedAt":"2025-02-01T11:00:00.000Z","name":"daily-prices","replayed":1,"successRate":1,"uses":1,"versions":[` +
		`{"createdAt":"2025-02-01T10:00:00.000Z","reason":"healed","steps":2,"taskId":"task_b","version":2},` +
		`{"createdAt":"2025-02-01T09:00:00.000Z","reason":"recorded by task task_a","steps":2,"taskId":"task_a","version":1}]}]`
	if string(b) != want {
		t.Errorf("GET /recipes =\n%s\nwant\n%s", b, want)
	}

	if code, m = l.call(t, "DELETE", "/recipes/{name}", "/recipes/theirs", "", true); code != 404 || m["code"] != "RECIPE_NOT_FOUND" {
		t.Errorf("deleting another key's recipe: %d %v", code, m)
	}
	if code, m = l.call(t, "DELETE", "/recipes/{name}", "/recipes/Bad.Name", "", true); code != 400 || m["code"] != "INVALID_REQUEST" {
		t.Errorf("a bad name: %d %v", code, m)
	}
	if code, m = l.call(t, "DELETE", "/recipes/{name}", "/recipes/daily-prices", "", true); code != 200 || m["deleted"] != "daily-prices" {
		t.Errorf("delete: %d %v", code, m)
	}
	if code, m = l.call(t, "GET", "/recipes", "/recipes", "", true); code != 200 || len(m["recipes"].([]any)) != 0 {
		t.Errorf("after delete: %d %v", code, m)
	}
	if _, err := st.LatestRecipe(ctx, "tenant_other", "theirs"); err != nil {
		t.Errorf("the other key's recipe: %v", err)
	}
}

// recipe and replay are validated with the other task fields: a bad one
// is a 400 naming it, and nothing is queued.
func TestRecipeFieldsValidated(t *testing.T) {
	l := newLiveAPI(t)
	cases := []struct{ body, ptr string }{
		{`{"taskDetails":"x","recipe":"Daily Prices"}`, "/recipe"},
		{`{"taskDetails":"x","recipe":""}`, "/recipe"},
		{`{"taskDetails":"x","recipe":"a123456789a123456789a123456789a123456789a123456789a123456789a123456789a123456789a123456789a123456789x"}`, "/recipe"},
		{`{"taskDetails":"x","recipe":7}`, "/recipe"},
		{`{"taskDetails":"x","replay":"always"}`, "/replay"},
		{`{"taskDetails":"x","replay":true}`, "/replay"},
	}
	for _, c := range cases {
		code, m := l.call(t, "POST", "/start/run-task", "/start/run-task", c.body, true)
		details, _ := m["details"].(map[string]any)
		if code != 400 || details[c.ptr] == nil {
			t.Errorf("%s: %d %v, want 400 naming %s", c.body, code, m, c.ptr)
		}
	}
	for _, ok := range []string{
		`{"taskDetails":"x","recipe":"daily-prices_2","replay":"require"}`,
		`{"taskDetails":"x","replay":"off"}`,
	} {
		if code, m := l.call(t, "POST", "/start/run-task", "/start/run-task", ok, true); code != 200 {
			t.Errorf("%s: %d %v", ok, code, m)
		}
	}
}
