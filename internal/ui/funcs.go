package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/trace"
)

// funcs are the templates' helpers: formatting only.
var funcs = template.FuncMap{
	"when":     when,
	"cost":     func(usd float64) string { return fmt.Sprintf("$%.6f", usd) },
	"size":     size,
	"duration": duration,
	"pretty":   pretty,
	"redact":   hookURL,
	"final":    func(s task.Status) bool { return s.Final() },
	"label":    label,
	"clip": func(s string, n int) string {
		if len([]rune(s)) <= n {
			return s
		}
		return string([]rune(s)[:n-1]) + "…"
	},
	"tokens": func(u task.Usage) int64 { return u.InputTokens + u.OutputTokens },
	"ok":     func(code int) bool { return code >= 200 && code < 300 },
}

// when formats a time in UTC to the second; zero times are empty.
func when(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case trace.Time:
		t = time.Time(x)
	case *trace.Time:
		if x == nil {
			return ""
		}
		t = time.Time(*x)
	}
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// size is a byte count (int or int64) as people read it.
func size(v any) string {
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int64:
		n = x
	}
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

func duration(ms int64) string {
	if ms < 1000 {
		return fmt.Sprintf("%d ms", ms)
	}
	return fmt.Sprintf("%.1f s", float64(ms)/1000)
}

// pretty indents JSON arguments for reading; anything else as it is.
func pretty(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

// label is a status as people read it.
func label(s any) string {
	v := fmt.Sprint(s)
	switch v {
	case string(task.StatusGuardrail):
		return "waiting for a human"
	case "":
		return "—"
	}
	return strings.ReplaceAll(v, "_", " ")
}

// hookURL is a webhook URL as the dashboard shows it: no credentials, and
// no query (receivers often take a token there), only that there is one.
func hookURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not a valid URL)"
	}
	u.User = nil
	q := u.RawQuery != ""
	u.RawQuery, u.Fragment = "", ""
	if q {
		return u.String() + "?…"
	}
	return u.String()
}
