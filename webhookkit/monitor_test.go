package webhookkit

import (
	"errors"
	"testing"
)

func TestDecodeMonitorEvents(t *testing.T) {
	tests := []struct {
		event, body string
		want        string // the payload's Go type
	}{
		{EventMonitorChanged, `{"type":"monitor.changed","sessionId":"s","taskId":"t","data":{"message":"{}"},"usage":{},"completedAt":"2026-01-01T00:00:00.000Z","monitor":{"id":"mon_1","name":"n","runAt":"2026-01-01T00:00:00.000Z"},"change":{"fields":[{"path":"/price","kind":"changed","before":2,"after":1}],"rules":[]}}`, "*webhookkit.MonitorChanged"},
		{EventMonitorChanged, `{"price":1}`, "*webhookkit.MonitorAnswer"},
		{EventMonitorChanged, `{"event":"monitor.changed","sessionId":"s","taskId":"t","completedAt":"2026-01-01T00:00:00.000Z"}`, "*webhookkit.MonitorPing"},
		{EventMonitorFailing, `{"type":"monitor.failing","sessionId":"s","taskId":"t","error":"e","code":"NAVIGATION_TIMEOUT","failures":3,"usage":{},"failedAt":"2026-01-01T00:00:00.000Z","monitor":{"id":"mon_1","name":"n","runAt":"2026-01-01T00:00:00.000Z"}}`, "*webhookkit.MonitorFailing"},
		{EventMonitorFailing, `{"event":"monitor.failing","sessionId":"s","taskId":"t","failedAt":"2026-01-01T00:00:00.000Z"}`, "*webhookkit.MonitorPing"},
		{EventMonitorRecovered, `{"type":"monitor.recovered","sessionId":"s","taskId":"t","data":{"message":"x"},"usage":{},"completedAt":"2026-01-01T00:00:00.000Z","monitor":{"id":"mon_1","name":"n","runAt":"2026-01-01T00:00:00.000Z"}}`, "*webhookkit.MonitorRecovered"},
	}
	for _, tt := range tests {
		p, err := Decode(tt.event, []byte(tt.body))
		if err != nil {
			t.Fatalf("%s %s: %v", tt.event, tt.body, err)
		}
		if got := typeName(p); got != tt.want {
			t.Errorf("%s %s: decoded as %s, want %s", tt.event, tt.body, got, tt.want)
		}
		if p.EventName() != tt.event {
			t.Errorf("%s: EventName %s", tt.event, p.EventName())
		}
	}
	p, _ := Decode(EventMonitorChanged, []byte(tests[0].body))
	mc := p.(*MonitorChanged)
	if mc.Monitor.ID != "mon_1" || len(mc.Change.Fields) != 1 || string(mc.Change.Fields[0].After) != "1" {
		t.Errorf("decoded %+v", mc)
	}
	if _, err := Decode(EventMonitorFailing, []byte(`{"x":1}`)); !errors.Is(err, ErrInvalidBody) {
		t.Errorf("a failing event without a marker: %v", err)
	}
	if _, err := Decode(EventMonitorChanged, []byte(`{"type":"task_completed"}`)); !errors.Is(err, ErrEventMismatch) {
		t.Errorf("a task body under a monitor header: %v", err)
	}
}

func typeName(p Payload) string {
	switch p.(type) {
	case *MonitorChanged:
		return "*webhookkit.MonitorChanged"
	case *MonitorAnswer:
		return "*webhookkit.MonitorAnswer"
	case *MonitorPing:
		return "*webhookkit.MonitorPing"
	case *MonitorFailing:
		return "*webhookkit.MonitorFailing"
	case *MonitorRecovered:
		return "*webhookkit.MonitorRecovered"
	}
	return "other"
}
