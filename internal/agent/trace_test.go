package agent_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/agent"
	"github.com/errandhq/errand/internal/model/modeltest"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/trace"
)

// TestStepScreenshots checks what the agent hands the trace: a screenshot
// after every step that acted on the page, taken with the task's secret
// values to cover, and none for a note. (Real Chromium covering them is
// tested in package browser and end to end.)
func TestStepScreenshots(t *testing.T) {
	site := loginSite()
	srv := modeltest.New(t,
		func(r modeltest.Request) modeltest.Reply {
			return modeltest.Reply{Calls: []modeltest.Call{
				{Name: "note", Args: map[string]any{"text": "login form found"}},
				{Name: "type", Args: map[string]any{"id": modeltest.ElementID(lastObs(r), "name=email"), "text": "{{email}}"}},
				{Name: "type", Args: map[string]any{"id": modeltest.ElementID(lastObs(r), "name=password"), "text": "{{password}}", "submit": true}},
			}}
		},
		func(r modeltest.Request) modeltest.Reply {
			return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "You have 3 open orders."}}}}
		},
	)
	res := runAgent(t, site, srv, loginTask(), nil)
	if res.out.Code != "" {
		t.Fatalf("outcome = %+v", res.out)
	}
	var shot []string
	for _, s := range res.steps {
		has := "-"
		if s.Screenshot != nil {
			if s.Screenshot.Omitted != "" || s.Screenshot.Bytes == 0 || s.Screenshot.Bytes != len(s.Screenshot.JPEG) || s.Screenshot.Width != 16 {
				t.Errorf("step %s: screenshot %+v", s.Action, s.Screenshot)
			}
			has = "shot"
		}
		shot = append(shot, s.Action+":"+has)
	}
	if got := strings.Join(shot, " "); got != "navigate:shot note:- type:shot type:shot done:shot" {
		t.Errorf("screenshots per step: %s", got)
	}
	tab := site.tabs["sess_1"]
	if len(tab.shots) != 4 {
		t.Fatalf("%d screenshots taken, want 4", len(tab.shots))
	}
	for _, s := range tab.shots {
		hide := slices.Sorted(slices.Values(s.opts.Hide))
		if !slices.Equal(hide, []string{secretEmail, secretPassword}) || s.opts.Quality != trace.DefaultQuality || s.opts.Scale != 1 {
			t.Errorf("screenshot of %s asked with %+v, want the secret values hidden at quality %d", s.url, s.opts, trace.DefaultQuality)
		}
	}
	if !strings.HasPrefix(tab.shots[3].url, "https://shop.test/account") {
		t.Errorf("the last screenshot shows %s, want the page after login", tab.shots[3].url)
	}
}

func TestStepScreenshotsOff(t *testing.T) {
	site := listSite(1)
	srv := modeltest.New(t, func(r modeltest.Request) modeltest.Reply {
		return modeltest.Reply{Calls: []modeltest.Call{{Name: "done", Args: map[string]string{"answer": "ok"}}}}
	})
	res := runAgent(t, site, srv, task.Task{Spec: spec("Read the list", "https://list.test/?page=1")}, func(a *agent.LLM) { a.Trace.Off = true })
	for _, s := range res.steps {
		if s.Screenshot != nil {
			t.Errorf("step %s has a screenshot with traces off", s.Action)
		}
	}
	for _, tab := range site.tabs {
		if len(tab.shots) != 0 {
			t.Errorf("%d screenshots taken with traces off", len(tab.shots))
		}
	}
}
