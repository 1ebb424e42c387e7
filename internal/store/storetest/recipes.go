package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/recipe"
	"github.com/errandhq/errand/internal/store"
)

func sampleTrace(steps int) recipe.Trace {
	tr := recipe.Trace{Format: recipe.Format, Baseline: recipe.Usage{InputTokens: 9000, OutputTokens: 300, ModelCalls: 4, Seconds: 3.5}}
	for i := range steps {
		tr.Steps = append(tr.Steps, recipe.Step{
			Tool: "type", Args: json.RawMessage(`{"text":"{{password}}"}`),
			Element: &recipe.Element{Role: "textbox", Label: "Password", Attrs: map[string]string{"name": "password"}, Index: 0, Count: 1},
			URL:     fmt.Sprintf("https://a.test/step/%d", i),
			After:   &recipe.Fingerprint{URL: "https://a.test/", Marks: []string{"h:welcome"}},
		})
	}
	tr.Answer = &recipe.Node{Kind: "string", From: &recipe.Source{Point: steps, Path: "main:1/p:1", Before: "Total: ", AtStart: true, AtEnd: true}}
	return tr
}

// testRecipes: versions count up per tenant and name, the newest is what
// LatestRecipe loads (trace intact), uses are counted, and deleting removes
// every version.
func testRecipes(t *testing.T, h *harness) {
	ctx := ctxT(t)
	s := h.s
	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

	if _, err := s.LatestRecipe(ctx, "ten_a", "login"); !errors.Is(err, store.ErrNotFound) || !errors.Is(err, recipe.ErrNotFound) {
		t.Fatalf("LatestRecipe of nothing = %v, want ErrRecipeNotFound", err)
	}
	for i := 1; i <= 3; i++ {
		v, err := s.SaveRecipe(ctx, recipe.Recipe{TenantID: "ten_a", Name: "login", TaskID: fmt.Sprintf("task_%d", i),
			Reason: fmt.Sprintf("version %d", i), Trace: sampleTrace(i), CreatedAt: at.Add(time.Duration(i) * time.Minute)})
		noErr(t, "SaveRecipe", err)
		if v != i {
			t.Fatalf("SaveRecipe #%d = version %d", i, v)
		}
	}
	r, err := s.LatestRecipe(ctx, "ten_a", "login")
	noErr(t, "LatestRecipe", err)
	if r.Version != 3 || r.TaskID != "task_3" || r.Reason != "version 3" || !r.CreatedAt.Equal(at.Add(3*time.Minute)) {
		t.Errorf("LatestRecipe = v%d %s %q %v", r.Version, r.TaskID, r.Reason, r.CreatedAt)
	}
	want, _ := json.Marshal(sampleTrace(3))
	got, _ := json.Marshal(r.Trace)
	if string(got) != string(want) {
		t.Errorf("trace read back:\n%s\nwant:\n%s", got, want)
	}

	uses := []recipe.Use{
		{TenantID: "ten_a", Name: "login", Version: 3, TaskID: "t1", Mode: recipe.ModeReplayed, ReplayedSteps: 3, At: at.Add(time.Hour)},
		{TenantID: "ten_a", Name: "login", Version: 3, TaskID: "t2", Mode: recipe.ModeReplayed, ReplayedSteps: 3, At: at.Add(2 * time.Hour)},
		{TenantID: "ten_a", Name: "login", Version: 3, TaskID: "t3", Mode: recipe.ModeHealed, ReplayedSteps: 1, ModelSteps: 2, At: at.Add(3 * time.Hour)},
		{TenantID: "ten_a", Name: "login", Version: 4, TaskID: "t4", Mode: recipe.ModeFailed, At: at.Add(90 * time.Minute)},
	}
	for _, u := range uses {
		noErr(t, "RecordRecipeUse", s.RecordRecipeUse(ctx, u))
	}
	_, err = s.SaveRecipe(ctx, recipe.Recipe{TenantID: "ten_a", Name: "export", TaskID: "task_x", Trace: sampleTrace(1), CreatedAt: at})
	noErr(t, "SaveRecipe", err)

	list, err := s.Recipes(ctx, "ten_a")
	noErr(t, "Recipes", err)
	if len(list) != 2 || list[0].Name != "export" || list[1].Name != "login" {
		t.Fatalf("Recipes = %+v, want export and login", list)
	}
	login := list[1]
	if len(login.Versions) != 3 || login.Versions[0].Version != 3 || login.Versions[2].Version != 1 || login.Versions[0].Steps != 3 || login.Versions[0].TaskID != "task_3" {
		t.Errorf("login versions = %+v, want 3, 2, 1 newest first with their step counts", login.Versions)
	}
	if login.Uses != 4 || login.Replayed != 2 || login.Healed != 1 || login.Failed != 1 || login.SuccessRate() != 0.5 {
		t.Errorf("login uses = %+v", login)
	}
	if login.LastUsedAt == nil || !login.LastUsedAt.Equal(at.Add(3*time.Hour)) {
		t.Errorf("login last used %v, want %v", login.LastUsedAt, at.Add(3*time.Hour))
	}
	if list[0].Uses != 0 || list[0].LastUsedAt != nil {
		t.Errorf("export, never used = %+v", list[0])
	}

	noErr(t, "DeleteRecipe", s.DeleteRecipe(ctx, "ten_a", "login"))
	if _, err := s.LatestRecipe(ctx, "ten_a", "login"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LatestRecipe after delete = %v", err)
	}
	if err := s.DeleteRecipe(ctx, "ten_a", "login"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteRecipe twice = %v, want ErrNotFound", err)
	}
	_, err = s.SaveRecipe(ctx, recipe.Recipe{TenantID: "ten_a", Name: "login", TaskID: "task_new", Trace: sampleTrace(1), CreatedAt: at})
	noErr(t, "SaveRecipe after delete", err)
	list, err = s.Recipes(ctx, "ten_a")
	noErr(t, "Recipes", err)
	if len(list) != 2 || list[1].Versions[0].Version != 1 || list[1].Uses != 0 {
		t.Errorf("a recipe saved again after deletion starts afresh: %+v", list)
	}

	// It survives a restart.
	s = h.reopen()
	if r, err := s.LatestRecipe(ctx, "ten_a", "export"); err != nil || r.Version != 1 {
		t.Errorf("after reopen: %v %v", r.Version, err)
	}
}

// testRecipeTenants: a recipe is its tenant's only, even under the same
// name.
func testRecipeTenants(t *testing.T, h *harness) {
	ctx := ctxT(t)
	s := h.s
	_, err := s.SaveRecipe(ctx, recipe.Recipe{TenantID: "ten_a", Name: "login", TaskID: "ta", Trace: sampleTrace(2)})
	noErr(t, "SaveRecipe", err)
	if _, err := s.LatestRecipe(ctx, "ten_b", "login"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("tenant b loads tenant a's recipe: %v", err)
	}
	if list, err := s.Recipes(ctx, "ten_b"); err != nil || len(list) != 0 {
		t.Errorf("tenant b lists %v, %v", list, err)
	}
	if err := s.DeleteRecipe(ctx, "ten_b", "login"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("tenant b deletes tenant a's recipe: %v", err)
	}
	v, err := s.SaveRecipe(ctx, recipe.Recipe{TenantID: "ten_b", Name: "login", TaskID: "tb", Trace: sampleTrace(1)})
	noErr(t, "SaveRecipe", err)
	if v != 1 {
		t.Errorf("tenant b's first version is %d", v)
	}
	if r, _ := s.LatestRecipe(ctx, "ten_a", "login"); r.TaskID != "ta" {
		t.Errorf("tenant a's recipe became %s", r.TaskID)
	}
}

// testRecipeVersionsConcurrent: saves racing on one recipe each get their
// own version, and only the newest recipe.KeepVersions are kept.
func testRecipeVersionsConcurrent(t *testing.T, h *harness) {
	ctx := ctxT(t)
	s := h.s
	const n = recipe.KeepVersions + 5
	var wg sync.WaitGroup
	versions := make(chan int, n)
	for i := range n {
		wg.Go(func() {
			v, err := s.SaveRecipe(ctx, recipe.Recipe{TenantID: "ten_a", Name: "busy", TaskID: fmt.Sprintf("t%d", i), Trace: sampleTrace(1)})
			if err != nil {
				t.Errorf("SaveRecipe: %v", err)
				return
			}
			versions <- v
		})
	}
	wg.Wait()
	close(versions)
	seen := map[int]bool{}
	for v := range versions {
		if seen[v] {
			t.Errorf("version %d given twice", v)
		}
		seen[v] = true
	}
	if len(seen) != n {
		t.Fatalf("%d versions for %d saves", len(seen), n)
	}
	list, err := s.Recipes(ctx, "ten_a")
	noErr(t, "Recipes", err)
	if len(list) != 1 || len(list[0].Versions) != recipe.KeepVersions || list[0].Versions[0].Version != n || list[0].Versions[recipe.KeepVersions-1].Version != n-recipe.KeepVersions+1 {
		t.Errorf("kept versions: %+v", list)
	}
}
