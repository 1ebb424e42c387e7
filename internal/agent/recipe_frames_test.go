package agent_test

import (
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/errandhq/errand/internal/agent"
	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/model/modeltest"
	"github.com/errandhq/errand/internal/recipe"
	"github.com/errandhq/errand/internal/task"
)

// idpShop is a shop whose account page embeds its identity provider's
// sign-in form in an iframe from another site; the provider checks the
// credentials of the moment and shows the orders on the way.
type idpShop struct {
	mu              sync.Mutex
	email, password string
	orders          int
	posts           [][2]string // email and password of each sign-in
}

func (s *idpShop) serve(t *testing.T) (shop, idp string) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	shop, idp = "http://shop.test:"+port, "http://login.idp.test:"+port
	form := `<form method=post action=/embed>
<label>Email <input name=email type=email></label>
<label>Password <input name=password type=password></label>
<button>Sign in</button></form>`
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch host, _, _ := strings.Cut(r.Host, ":"); host + " " + r.Method + " " + r.URL.Path {
		case "shop.test GET /account":
			page("Your account", `<h1>Your account</h1><p>Sign in to see your orders.</p>
<iframe src="`+idp+`/embed" style="width:500px;height:300px"></iframe>`)(w, r)
		case "login.idp.test GET /embed":
			page("Sign in", form)(w, r)
		case "login.idp.test POST /embed":
			r.ParseForm()
			s.mu.Lock()
			s.posts = append(s.posts, [2]string{r.PostForm.Get("email"), r.PostForm.Get("password")})
			ok := r.PostForm.Get("email") == s.email && r.PostForm.Get("password") == s.password
			n := s.orders
			s.mu.Unlock()
			if !ok {
				page("Sign in", `<p>Wrong email or password.</p>`+form)(w, r)
				return
			}
			page("Signed in", fmt.Sprintf(`<h1>Signed in</h1><p>Signed in as %s.</p><p>Orders on the way: %d</p>`, html.EscapeString(r.PostForm.Get("email")), n))(w, r)
		default:
			http.NotFound(w, r)
		}
	})
	return shop, idp
}

// signIns are the email and password of each sign-in so far.
func (s *idpShop) signIns() [][2]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][2]string(nil), s.posts...)
}

// A run that signs in inside a cross-origin iframe is recorded — each
// element with its frame — and the next run replays it without a model
// call: the new task's credentials typed into the frame, the answer read
// off the frame, no secret stored. With the frame in the page's process
// and out of it (site isolation).
func TestRecipeInCrossOriginFrame(t *testing.T) {
	inFrameProcesses(t, func(t *testing.T, c *browser.Chromium) {
		site := &idpShop{email: "ada@example.org", password: "first-Pa55!", orders: 2}
		shop, idp := site.serve(t)
		l := newLearner(t, shop)
		run := func(email, password string, script ...modeltest.Step) (result, int) {
			t.Helper()
			fake := modeltest.New(t, script...)
			s := task.Spec{TaskDetails: "How many orders are on the way?", StartingPoint: shop + "/account",
				OutputType: task.OutputJSON, OutputSchema: []byte(`{"type":"object","properties":{"orders":{"type":"integer"}},"required":["orders"]}`), Replay: task.ReplayAuto,
				Secrets: []task.Secret{{Match: "login.idp.test", Fields: map[string]string{"email": email, "password": password}}}}
			tk := e2eTask(t, s)
			tk.TenantID = "ten_a"
			l.n++
			tk.ID = fmt.Sprintf("task_frame%d", l.n)
			res := runAgent(t, c, fake, tk, func(a *agent.LLM) { a.Recipes = l.book })
			if fake.Remaining() != 0 {
				t.Errorf("the model was asked %d times, %d fewer than scripted", len(fake.Requests()), fake.Remaining())
			}
			assertNoSecrets(t, fake, email, password)
			return res, len(fake.Requests())
		}

		res, calls := run("ada@example.org", "first-Pa55!", frameSignInTurn(t, idp+"/embed"), answerTurn(`{"orders":2}`))
		if res.out.Code != "" || res.out.Message != `{"orders":2}` || calls != 2 {
			t.Fatalf("recording run: %s %s %s after %d calls\n%s", res.out.Code, res.out.Error, res.out.Message, calls, res.stepLog())
		}
		if rep := res.out.Replay; rep == nil || rep.Mode != recipe.ModeRecorded || rep.Recorded != 1 {
			t.Fatalf("recording run's report: %+v\n%s", rep, res.stepLog())
		}
		if log := res.stepLog(); strings.Contains(log, "not recorded") || strings.Contains(log, "not tied") {
			t.Fatalf("the run was not fully recorded:\n%s", log)
		}

		// Another account, and more orders: the replay types the new
		// task's credentials into the frame and reads the new count.
		site.mu.Lock()
		site.email, site.password, site.orders = "grace@example.org", "second-Pa55?", 3
		site.mu.Unlock()
		res, calls = run("grace@example.org", "second-Pa55?")
		if res.out.Code != "" || res.out.Message != `{"orders":3}` || calls != 0 {
			t.Fatalf("replay: %s %s %s after %d calls\n%s", res.out.Code, res.out.Error, res.out.Message, calls, res.stepLog())
		}
		if rep := res.out.Replay; rep == nil || rep.Mode != recipe.ModeReplayed || rep.ReplayedSteps != 4 || rep.ModelSteps != 0 {
			t.Errorf("replay's report: %+v\n%s", rep, res.stepLog())
		}
		if posts := site.signIns(); len(posts) != 2 || posts[1] != [2]string{"grace@example.org", "second-Pa55?"} {
			t.Errorf("the provider was sent %q, want the new task's credentials on the replay", posts)
		}
		log := res.stepLog()
		for _, secret := range []string{"ada@example.org", "first-Pa55!", "grace@example.org", "second-Pa55?"} {
			if strings.Contains(log, secret) {
				t.Errorf("the step log holds %q:\n%s", secret, log)
			}
		}

		// The recipe knows the frame; no credential is in the store.
		r, err := l.book.LatestRecipe(t.Context(), "ten_a", res.out.Replay.Recipe)
		if err != nil {
			t.Fatal(err)
		}
		framed := 0
		for _, s := range r.Trace.Steps {
			if s.Element != nil && s.Element.Frame == "1" && s.Element.FrameURL == recipe.URLPattern(idp+"/embed") {
				framed++
			}
		}
		if framed != 3 {
			t.Errorf("%d recorded elements in the sign-in frame, want 3: %+v", framed, r.Trace.Steps)
		}
		l.assertStoreHolds(t, "{{password}}", "ada@example.org", "first-Pa55!", "grace@example.org", "second-Pa55?")
	})
}
