package webhook

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/monitor"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/webhookkit"
)

func notice(ev task.Event, t task.Task) MonitorNotice {
	below := 30.0
	return MonitorNotice{
		Event: ev, Task: t, MonitorID: "mon_price", MonitorName: "Anvil price",
		RunAt: time.Date(2024, 1, 15, 10, 29, 48, 0, time.UTC),
		Changes: []monitor.Change{{Path: "/price", Kind: monitor.KindChanged,
			Before: json.RawMessage(`34.99`), After: json.RawMessage(`29.99`)}},
		Fired:    []monitor.Fired{{Rule: monitor.Rule{Path: "/price", Below: &below}, Value: json.RawMessage(`29.99`)}},
		Failures: 3,
	}
}

// TestMonitorBodyGolden pins every monitor body byte for byte: each event
// in each submittedData, and decodes each with webhookkit under its
// Errand-Event, so that what errand sends is what receivers read.
func TestMonitorBodyGolden(t *testing.T) {
	cases := []struct {
		name string
		n    MonitorNotice
	}{
		{"changed", notice(monitor.EventChanged, ended(task.OutputJSON, jsonMessage))},
		{"failing", notice(monitor.EventFailing, failed(task.CodeNavigationTimeout, "could not load https://shop.example/anvil"))},
		{"recovered", notice(monitor.EventRecovered, ended(task.OutputJSON, jsonMessage))},
	}
	for _, c := range cases {
		for _, sd := range submitted {
			t.Run(string(c.n.Event)+"-"+string(sd), func(t *testing.T) {
				got, err := MonitorBody(c.n, sd)
				if err != nil {
					t.Fatal(err)
				}
				golden(t, filepath.Join("testdata", "golden", string(c.n.Event)+"-"+string(sd)+".json"), got)
				p, err := webhookkit.Decode(string(c.n.Event), got)
				if err != nil {
					t.Fatalf("webhookkit cannot decode it: %v", err)
				}
				if p.EventName() != string(c.n.Event) {
					t.Fatalf("decoded as %s", p.EventName())
				}
			})
		}
	}
	// full_response of monitor.changed is the task's full payload plus
	// monitor and change: a replayed run's replay object and usage keys
	// included.
	rt := ended(task.OutputJSON, jsonMessage)
	rt.Replay = &task.Replay{Recipe: "monitor-mon_price", Version: 1, Mode: "replayed", ReplayedSteps: 2, SavedInputTokens: 900}
	full, err := MonitorBody(notice(monitor.EventChanged, rt), task.SubmitFullResponse)
	if err != nil {
		t.Fatal(err)
	}
	taskFull, _ := Body(rt, task.EventCompleted, task.SubmitFullResponse)
	var monitorFull, taskFields map[string]any
	json.Unmarshal(full, &monitorFull)
	json.Unmarshal(taskFull, &taskFields)
	for k, v := range taskFields {
		if k == "type" {
			continue
		}
		if got, _ := json.Marshal(monitorFull[k]); string(got) != mustJSON(v) {
			t.Errorf("monitor full_response %q = %s, the task's is %s", k, got, mustJSON(v))
		}
	}
	// ai_response of monitor.changed is the task's ai_response, byte for byte.
	n := notice(monitor.EventChanged, ended(task.OutputJSON, jsonMessage))
	mb, _ := MonitorBody(n, task.SubmitAIResponse)
	tb, _ := Body(n.Task, task.EventCompleted, task.SubmitAIResponse)
	if string(mb) != string(tb) {
		t.Errorf("monitor ai_response %s differs from the task's %s", mb, tb)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
