package agent_test

// Learned tasks end to end: real Chromium, a real SQLite store as the
// recipe book, the production model client against the fake endpoint. A
// first run records, later runs replay without a model call, and a page
// that drifted heals: the model takes over where the replay stops, and
// the new version replays again.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/agent"
	"github.com/errandhq/errand/internal/model"
	"github.com/errandhq/errand/internal/model/modeltest"
	"github.com/errandhq/errand/internal/recipe"
	"github.com/errandhq/errand/internal/store/sqlite"
	"github.com/errandhq/errand/internal/task"
)

// shop is a site behind a sign-in, whose pages can drift.
type shop struct {
	mu       sync.Mutex
	drift    string // "", "renamed", "menu", "field"
	password string
	orders   [][2]string
	logins   []string // the passwords the site was sent
}

func newShop() *shop {
	return &shop{password: "first-Pa55!", orders: [][2]string{{"A-1001", "$12.50"}, {"A-1002", "$1,299.00"}}}
}

func (s *shop) set(f func(s *shop)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *shop) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		drift := s.drift
		s.mu.Unlock()
		terms := ""
		if drift == "field" {
			terms = `<label><input type=checkbox name=terms required> I accept the terms</label>`
		}
		page("Sign in", `<h1>Sign in</h1><form method=post action=/login>
<label>Email <input name=email type=email></label>
<label>Password <input name=password type=password></label>`+terms+`
<button type=submit>Sign in</button></form>`)(w, r)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		s.mu.Lock()
		s.logins = append(s.logins, r.PostForm.Get("password"))
		ok := r.PostForm.Get("email") == "ada@shop.test" && r.PostForm.Get("password") == s.password
		s.mu.Unlock()
		if !ok {
			http.Redirect(w, r, "/login?error=1", http.StatusSeeOther)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "ok", Path: "/"})
		http.Redirect(w, r, "/account", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /account", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("sid"); err != nil || c.Value != "ok" {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		s.mu.Lock()
		drift := s.drift
		s.mu.Unlock()
		orders := `<a href=/orders>Orders</a>`
		switch drift {
		case "renamed":
			orders = `<a href=/orders>Order history</a>`
		case "menu":
			orders = `<button onclick="document.getElementById('m').hidden=false">Account menu</button><div id=m hidden><a href=/orders>Orders</a></div>`
		}
		page("Your account", `<h1>Your account</h1><nav>`+orders+` <a href=/profile>Profile</a></nav><p>Welcome back.</p>`)(w, r)
	})
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		var rows strings.Builder
		for _, o := range s.orders {
			fmt.Fprintf(&rows, "<tr><td>%s</td><td>%s</td></tr>", o[0], o[1])
		}
		s.mu.Unlock()
		page("Orders", `<h1>Orders</h1><table><thead><tr><th>Order</th><th>Total</th></tr></thead><tbody>`+rows.String()+`</tbody></table>`)(w, r)
	})
	return mux
}

const ordersSchema = `{"type":"object","properties":{"orders":{"type":"array","items":{"type":"object","properties":{"id":{"type":"string"},"total":{"type":"number"}},"required":["id","total"]}}},"required":["orders"]}`

// signInTurn is the model's turn that signs in with the task's secrets.
func signInTurn(t testing.TB) modeltest.Step {
	return func(r modeltest.Request) modeltest.Reply {
		obs := r.Body.Last()
		return modeltest.Reply{Calls: []modeltest.Call{
			{Name: "type", Args: map[string]any{"id": elementID(t, obs, `<input type=email`), "text": "{{email}}"}},
			{Name: "type", Args: map[string]any{"id": elementID(t, obs, `<input type=password`), "text": "{{password}}", "submit": true}},
		}}
	}
}

func clickTurn(t testing.TB, pattern string) modeltest.Step {
	return func(r modeltest.Request) modeltest.Reply {
		return modeltest.Reply{Calls: []modeltest.Call{{Name: "click", Args: map[string]any{"id": elementID(t, r.Body.Last(), pattern)}}}}
	}
}

func answerTurn(answer string) modeltest.Step {
	return modeltest.ToolCall("done", map[string]any{"answer": answer})
}

// learner runs tasks of one tenant through an agent with a recipe book.
type learner struct {
	t      *testing.T
	book   *sqlite.Store
	dbPath string
	site   string
	n      int
}

func newLearner(t *testing.T, site string) *learner {
	t.Helper()
	path := filepath.Join(t.TempDir(), "errand.db")
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &learner{t: t, book: st, dbPath: path, site: site}
}

// run runs the orders task with the model's script, the password given,
// and the replay mode; tenant "" is ten_a.
func (l *learner) run(script []modeltest.Step, password string, mode task.ReplayMode, tenant string) (result, *modeltest.Server) {
	t := l.t
	t.Helper()
	needChromium(t)
	fake := modeltest.New(t, script...)
	client, err := model.New(model.Config{BaseURL: fake.URL, APIKey: "k", Model: "test-model", MaxRetryDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a := &agent.LLM{Model: client, Browser: chromium, Recipes: l.book}
	tk := e2eTask(t, task.Spec{
		TaskDetails: "Sign in and list my orders with their totals.", StartingPoint: l.site + "/login",
		OutputType: task.OutputJSON, OutputSchema: []byte(ordersSchema), Replay: mode,
		Secrets: []task.Secret{{Match: "shop.test", Fields: map[string]string{"email": "ada@shop.test", "password": password}}},
	})
	if tenant == "" {
		tenant = "ten_a"
	}
	tk.TenantID = tenant
	l.n++
	tk.ID = fmt.Sprintf("task_run%d", l.n)
	var res result
	res.out = a.Run(context.Background(), agent.Request{Task: tk, Step: func(s task.Step) { res.steps = append(res.steps, s) }})
	if fake.Remaining() != 0 {
		t.Errorf("the model was asked %d times, %d fewer than scripted", len(fake.Requests()), fake.Remaining())
	}
	return res, fake
}

func (r result) stepLog() string {
	var b strings.Builder
	for _, s := range r.steps {
		fmt.Fprintf(&b, "%d %s %s %s\n", s.N, s.Action, s.Args, s.Error)
	}
	return b.String()
}

const firstAnswer = `{"orders":[{"id":"A-1001","total":12.5},{"id":"A-1002","total":1299}]}`

// record makes version 1 of the recipe on the undrifted shop: three model
// calls.
func (l *learner) record(t *testing.T) {
	t.Helper()
	res, fake := l.run([]modeltest.Step{signInTurn(t), clickTurn(t, `<a href=/orders>Orders`), answerTurn(firstAnswer)}, "first-Pa55!", task.ReplayAuto, "")
	if res.out.Code != "" || len(fake.Requests()) != 3 {
		t.Fatalf("recording run: %+v after %d calls\n%s", res.out, len(fake.Requests()), res.stepLog())
	}
	rep := res.out.Replay
	if rep == nil || rep.Mode != recipe.ModeRecorded || rep.Recorded != 1 || rep.ModelSteps != 3 {
		t.Fatalf("recording run's report: %+v\n%s", rep, res.stepLog())
	}
	if strings.Contains(res.stepLog(), "record  not recorded") || strings.Contains(res.stepLog(), "not tied") {
		t.Fatalf("the run was not fully recorded:\n%s", res.stepLog())
	}
}

func TestRecipeReplaysWithoutTheModel(t *testing.T) {
	needChromium(t)
	sh := newShop()
	l := newLearner(t, serve(t, "shop.test", sh.handler()))
	l.record(t)

	// Between runs the totals change and the password is rotated: the
	// replay types the new task's password and reads the new totals.
	sh.set(func(s *shop) {
		s.orders = [][2]string{{"A-1001", "$13.75"}, {"A-1002", "$1,299.00"}, {"A-1003", "$5"}}
		s.password = "second-Pa55?"
	})
	res, fake := l.run(nil, "second-Pa55?", task.ReplayAuto, "")
	if res.out.Code != "" {
		t.Fatalf("replay failed: %s %s\n%s", res.out.Code, res.out.Error, res.stepLog())
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("the replay called the model %d times", n)
	}
	if want := `{"orders":[{"id":"A-1001","total":13.75},{"id":"A-1002","total":1299},{"id":"A-1003","total":5}]}`; res.out.Message != want {
		t.Errorf("replayed answer = %s, want %s", res.out.Message, want)
	}
	rep := res.out.Replay
	if rep == nil || rep.Mode != recipe.ModeReplayed || rep.ReplayedSteps != 4 || rep.ModelSteps != 0 || rep.Version != 1 || rep.Recorded != 0 {
		t.Errorf("report = %+v", rep)
	}
	if rep != nil && (rep.SavedInputTokens <= 0 || rep.SavedOutputTokens <= 0) {
		t.Errorf("a replay without the model saved nothing: %+v", rep)
	}
	sh.mu.Lock()
	logins := append([]string(nil), sh.logins...)
	sh.mu.Unlock()
	if len(logins) != 2 || logins[1] != "second-Pa55?" {
		t.Errorf("the site was sent passwords %q, want the new task's on the replay", logins)
	}
	log := res.stepLog()
	if !strings.Contains(log, `"replayed":true`) || strings.Contains(log, "second-Pa55?") || strings.Contains(log, "first-Pa55!") {
		t.Errorf("step log:\n%s", log)
	}

	// Neither password is anywhere in the store's files, while the recipe
	// is.
	r, err := l.book.LatestRecipe(t.Context(), "ten_a", res.out.Replay.Recipe)
	if err != nil || len(r.Trace.Steps) != 4 {
		t.Fatalf("recipe: %v %+v", err, r)
	}
	l.assertStoreHolds(t, "{{password}}", "first-Pa55!", "second-Pa55?")
}

// assertStoreHolds closes the recipe book and scans its files: none holds
// a secret, and the database holds the placeholder (else the scan proves
// nothing).
func (l *learner) assertStoreHolds(t *testing.T, placeholder string, secrets ...string) {
	t.Helper()
	l.book.Close()
	files, _ := filepath.Glob(l.dbPath + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range secrets {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds the secret %q", filepath.Base(f), secret)
			}
		}
		if f == l.dbPath && !bytes.Contains(b, []byte(placeholder)) {
			t.Errorf("the database holds no recipe with the placeholder %s: the scan proves nothing", placeholder)
		}
	}
}

// Each kind of drift stops the replay where it shows, the model takes
// over with fewer calls than a fresh run on the drifted site needs, the
// recipe is recorded again, and the next run replays it without the model.
func TestRecipeHealsDrift(t *testing.T) {
	needChromium(t)
	cases := []struct {
		drift string
		heal  func(t *testing.T) []modeltest.Step
		fresh int // model calls a fresh run needs on the drifted site
		at    int // the recipe step where the model takes over
		why   string
	}{
		{"renamed", func(t *testing.T) []modeltest.Step {
			return []modeltest.Step{clickTurn(t, `<a href=/orders>Order history`)}
		}, 3, 4, `no element on the page is link "Orders"`},
		{"menu", func(t *testing.T) []modeltest.Step {
			return []modeltest.Step{clickTurn(t, `<button>Account menu`), clickTurn(t, `<a href=/orders>Orders`)}
		}, 4, 4, "not shown"},
		{"field", func(t *testing.T) []modeltest.Step {
			return []modeltest.Step{func(r modeltest.Request) modeltest.Reply {
				if !strings.Contains(r.Body.Text(), "replayed from a recording") {
					t.Errorf("the model was not told what was replayed:\n%s", r.Body.Text())
				}
				return modeltest.Reply{Calls: []modeltest.Call{{Name: "click", Args: map[string]any{"id": elementID(t, r.Body.Last(), `<input type=checkbox`)}}}}
			}, clickTurn(t, `<button>Sign in`)}
		}, 4, 3, "after step 3"},
	}
	for _, c := range cases {
		t.Run(c.drift, func(t *testing.T) {
			sh := newShop()
			l := newLearner(t, serve(t, "shop.test", sh.handler()))
			l.record(t)
			sh.set(func(s *shop) { s.drift = c.drift })

			script := c.heal(t)
			res, fake := l.run(script, "first-Pa55!", task.ReplayAuto, "")
			if res.out.Code != "" || res.out.Message != firstAnswer {
				t.Fatalf("heal: %s %s %s\n%s", res.out.Code, res.out.Error, res.out.Message, res.stepLog())
			}
			calls := len(fake.Requests())
			if calls >= c.fresh {
				t.Errorf("the heal took %d model calls, a fresh run %d", calls, c.fresh)
			}
			rep := res.out.Replay
			if rep == nil || rep.Mode != recipe.ModeHealed || rep.TookOverAt != c.at || !strings.Contains(rep.Reason, c.why) || rep.Recorded != 2 {
				t.Errorf("report = %+v, want healed at step %d (%q), version 2 recorded", rep, c.at, c.why)
			}
			if !strings.Contains(res.stepLog(), "heal") {
				t.Errorf("the step log does not say where the model took over:\n%s", res.stepLog())
			}

			res, fake = l.run(nil, "first-Pa55!", task.ReplayAuto, "")
			if res.out.Code != "" || res.out.Message != firstAnswer || len(fake.Requests()) != 0 || res.out.Replay.Version != 2 || res.out.Replay.Mode != recipe.ModeReplayed {
				t.Errorf("the run after the heal: %s %s %s, %d calls, %+v\n%s", res.out.Code, res.out.Error, res.out.Message, len(fake.Requests()), res.out.Replay, res.stepLog())
			}
			list, err := l.book.Recipes(t.Context(), "ten_a")
			if err != nil || len(list) != 1 || len(list[0].Versions) != 2 || list[0].Uses != 2 || list[0].Healed != 1 || list[0].Replayed != 1 {
				t.Errorf("recipes: %+v %v", list, err)
			}
		})
	}
}

// replay "require" fails clearly instead of calling the model: with no
// recipe, and at a step that does not replay.
func TestRecipeRequire(t *testing.T) {
	needChromium(t)
	sh := newShop()
	l := newLearner(t, serve(t, "shop.test", sh.handler()))
	res, fake := l.run(nil, "first-Pa55!", task.ReplayRequire, "")
	if res.out.Code != task.CodeReplayUnavailable || !strings.Contains(res.out.Error, "none has been recorded") || len(fake.Requests()) != 0 {
		t.Errorf("require without a recipe: %s %q, %d calls", res.out.Code, res.out.Error, len(fake.Requests()))
	}
	l.record(t)
	sh.set(func(s *shop) { s.drift = "renamed" })
	res, fake = l.run(nil, "first-Pa55!", task.ReplayRequire, "")
	if res.out.Code != task.CodeReplayUnavailable || !strings.Contains(res.out.Error, `step 4`) || !strings.Contains(res.out.Error, `link "Orders"`) || len(fake.Requests()) != 0 {
		t.Errorf("require on a drifted page: %s %q, %d calls", res.out.Code, res.out.Error, len(fake.Requests()))
	}
	if rep := res.out.Replay; rep == nil || rep.Mode != recipe.ModeFailed || rep.ReplayedSteps != 3 {
		t.Errorf("report = %+v", rep)
	}
}

// A recipe is its tenant's only: another tenant's identical task records
// its own.
func TestRecipeNotAcrossTenants(t *testing.T) {
	needChromium(t)
	sh := newShop()
	l := newLearner(t, serve(t, "shop.test", sh.handler()))
	l.record(t)
	res, fake := l.run([]modeltest.Step{signInTurn(t), clickTurn(t, `<a href=/orders>Orders`), answerTurn(firstAnswer)}, "first-Pa55!", task.ReplayAuto, "ten_b")
	if res.out.Code != "" || len(fake.Requests()) != 3 || res.out.Replay.Mode != recipe.ModeRecorded || res.out.Replay.Recorded != 1 {
		t.Errorf("tenant b: %s, %d calls, %+v", res.out.Code, len(fake.Requests()), res.out.Replay)
	}
}

// Two "Buy" buttons where the recording had one: the replay cannot tell
// which was meant, so it clicks neither and the model takes over.
func TestRecipeTwoBuyButtonsHeal(t *testing.T) {
	c := needChromium(t)
	_ = c
	var mu sync.Mutex
	twoButtons := false
	var bought []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /mug", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		two := twoButtons
		mu.Unlock()
		buttons := `<button name=kind value=plain>Buy</button>`
		if two {
			buttons = `<button name=kind value=gift>Buy</button> ` + buttons
		}
		page("Blue mug", `<h1>Blue mug</h1><p>Price: $12</p><form method=post action=/buy>`+buttons+`</form>`)(w, r)
	})
	mux.HandleFunc("POST /buy", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		bought = append(bought, r.PostForm.Get("kind"))
		n := len(bought)
		mu.Unlock()
		page("Thanks", fmt.Sprintf(`<h1>Thank you</h1><p>Order number: B-%d</p>`, n))(w, r)
	})
	site := serve(t, "mugs.test", mux)
	l := newLearner(t, site)
	spec := task.Spec{TaskDetails: "Buy the blue mug and give me the order number.", StartingPoint: site + "/mug",
		OutputType: task.OutputJSON, OutputSchema: []byte(`{"type":"object","properties":{"order":{"type":"string"}},"required":["order"]}`), Recipe: "buy-mug"}
	run := func(script ...modeltest.Step) (result, int) {
		fake := modeltest.New(t, script...)
		client, _ := model.New(model.Config{BaseURL: fake.URL, APIKey: "k", Model: "m", MaxRetryDelay: time.Millisecond})
		a := &agent.LLM{Model: client, Browser: chromium, Recipes: l.book}
		tk := e2eTask(t, spec)
		tk.TenantID = "ten_a"
		var res result
		res.out = a.Run(context.Background(), agent.Request{Task: tk, Step: func(s task.Step) { res.steps = append(res.steps, s) }})
		return res, len(fake.Requests())
	}
	res, calls := run(clickTurn(t, `<button>Buy`), answerTurn(`{"order":"B-1"}`))
	if res.out.Code != "" || calls != 2 || res.out.Replay.Recorded != 1 {
		t.Fatalf("recording: %+v %d\n%s", res.out, calls, res.stepLog())
	}
	mu.Lock()
	twoButtons = true
	mu.Unlock()
	res, calls = run(func(r modeltest.Request) modeltest.Reply {
		mu.Lock()
		n := len(bought)
		mu.Unlock()
		if n != 1 {
			t.Errorf("before the model took over, the replay clicked a Buy button (%d purchases)", n)
		}
		obs := r.Body.Last()
		// The plain one: the second Buy on the page.
		ids := strings.Split(obs, "<button>Buy")
		if len(ids) != 3 {
			t.Fatalf("want two Buy buttons in:\n%s", obs)
		}
		return modeltest.Reply{Calls: []modeltest.Call{{Name: "click", Args: map[string]any{"id": elementID(t, ids[0]+"<button>Buy"+ids[1]+"<button>Buy", `<button>Buy$`)}}}}
	})
	if res.out.Code != "" || res.out.Message != `{"order":"B-2"}` || calls != 1 {
		t.Fatalf("heal: %s %s %s after %d calls\n%s", res.out.Code, res.out.Error, res.out.Message, calls, res.stepLog())
	}
	if rep := res.out.Replay; rep == nil || rep.Mode != recipe.ModeHealed || !strings.Contains(rep.Reason, `2 elements are button "Buy"`) {
		t.Errorf("report = %+v", rep)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bought) != 2 || bought[1] != "plain" {
		t.Errorf("purchases %v, want the model's one plain purchase after the recorded one", bought)
	}
}
