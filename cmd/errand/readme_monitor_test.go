package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestREADMEMonitorWalkthrough runs the README's price-alert walkthrough
// as written: its page (the walkthrough's product.html), each curl command
// of the monitor section against a real server (localhost:8080, the page
// on :8000 and the receiver on :9000 swapped for this test's), its sed
// edit of the page, and each answer checked against the one the README
// shows (… stands for what varies). Then what the README says the receiver
// gets.
func TestREADMEMonitorWalkthrough(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	page := between(t, text, "cat > /tmp/site/product.html <<'HTML'\n", "\nHTML\n")
	section := between(t, text, "### Monitor a price", "\n### ")

	var mu sync.Mutex
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, page)
	}))
	defer site.Close()
	hooks := newReceiver(t, nil)
	s := startServer(t, "")

	swap := strings.NewReplacer("localhost:8080", strings.TrimPrefix(s.URL, "http://"),
		"http://127.0.0.1:8000", site.URL, "http://127.0.0.1:9000", hooks.URL,
		"Bearer dev-key", "Bearer "+testKey)
	var monitorID string
	commands := 0
	for _, block := range shBlocks(section) {
		lines := shellLines(block)
		for i, line := range lines {
			if strings.HasPrefix(line, "#") {
				continue
			}
			if monitorID != "" {
				line = strings.ReplaceAll(line, "mon_…", monitorID)
			}
			words := shellWords(t, swap.Replace(line))
			commands++
			switch words[0] {
			case "sed":
				// sed -i 's/A/B/' /tmp/site/product.html
				parts := strings.Split(words[2], "/")
				mu.Lock()
				page = strings.Replace(page, parts[1], parts[2], 1)
				mu.Unlock()
				continue
			case "curl":
			default:
				t.Fatalf("the walkthrough runs %q, which this test does not know", words[0])
			}
			got := curl(t, words)
			if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "# {") {
				want := strings.TrimPrefix(lines[i+1], "# ")
				if err := matches(got, want); err != nil {
					t.Fatalf("%s\nanswered %v\nthe README shows %s\n%v", line, got, want, err)
				}
			}
			if id, ok := got["monitorId"].(string); ok && monitorID == "" {
				monitorID = id
			}
			if tid, ok := got["taskId"].(string); ok && strings.Contains(line, "/run ") {
				// As a reader would, wait for the run before the next step.
				s.waitTask(t, got["sessionId"].(string), tid)
			}
		}
	}
	if commands < 7 || monitorID == "" {
		t.Fatalf("ran %d commands of the walkthrough (monitor %q)", commands, monitorID)
	}
	got := hooks.waitN(t, 1, 20*time.Second)
	if len(got) != 1 {
		t.Fatalf("the receiver got %d notifications, the README says one", len(got))
	}
	d := got[0]
	if d.Header.Get("Errand-Event") != "monitor.changed" || d.Header.Get("Errand-Monitor-Id") != monitorID ||
		d.Header.Get("Authorization") != "Bearer alert-token" {
		t.Errorf("notification headers: %v", d.Header)
	}
	if err := matches(d.JSON(t), `{"event":"monitor.changed","sessionId":"sess_…","taskId":"task_…","completedAt":"…"}`); err != nil {
		t.Errorf("notification %s: %v", d.Body, err)
	}
}

func between(t *testing.T, s, from, to string) string {
	t.Helper()
	i := strings.Index(s, from)
	if i < 0 {
		t.Fatalf("README: %q not found", from)
	}
	rest := s[i+len(from):]
	j := strings.Index(rest, to)
	if j < 0 {
		t.Fatalf("README: no %q after %q", to, from)
	}
	return rest[:j]
}

// shBlocks are the ```sh code blocks of a markdown text.
func shBlocks(md string) []string {
	var out []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(md, -1) {
		out = append(out, m[1])
	}
	return out
}

// shellLines joins a block's commands: a line ending in a backslash, or
// inside a single-quoted string, goes on.
func shellLines(block string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range strings.Split(strings.TrimRight(block, "\n"), "\n") {
		if cur.Len() > 0 {
			cur.WriteString("\n")
		}
		cur.WriteString(l)
		s := cur.String()
		if strings.HasSuffix(s, "\\") || strings.Count(s, "'")%2 == 1 {
			continue
		}
		out = append(out, s)
		cur.Reset()
	}
	return out
}

// shellWords splits a command line as sh would, for the quoting the
// README uses: single quotes, and backslash-newline continuations.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	in, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\'':
			quoted = false
		case quoted:
			w.WriteByte(c)
		case c == '\'':
			quoted, in = true, true
		case c == '\\' && i+1 < len(line) && line[i+1] == '\n':
			i++
		case c == ' ' || c == '\n' || c == '\t':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if quoted {
		t.Fatalf("unterminated quote in %q", line)
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// curl does what `curl -s [-X M] URL [-H h]… [-d body]` does, and decodes
// the answer.
func curl(t *testing.T, words []string) map[string]any {
	t.Helper()
	method, url, body := "GET", "", ""
	header := http.Header{}
	for i := 1; i < len(words); i++ {
		switch words[i] {
		case "-s":
		case "-X":
			i++
			method = words[i]
		case "-H":
			i++
			k, v, _ := strings.Cut(words[i], ":")
			header.Set(k, strings.TrimSpace(v))
		case "-d":
			i++
			body = words[i]
			if method == "GET" {
				method = "POST"
			}
		default:
			url = words[i]
		}
	}
	if !strings.HasPrefix(url, "http") {
		url = "http://" + url
	}
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: %s", method, url, raw)
	}
	return m
}

// matches checks got against the README's rendering of it: every key
// shown is there with the value shown, "…" in a string standing for any
// rest, ",…" for keys or items left out.
func matches(got any, shown string) error {
	shown = strings.NewReplacer(",…}", "}", ",…]", "]").Replace(shown)
	var want any
	dec := json.NewDecoder(bytes.NewReader([]byte(shown)))
	if err := dec.Decode(&want); err != nil {
		return fmt.Errorf("the README's answer is not JSON: %v", err)
	}
	return subset(got, want, "")
}

func subset(got, want any, at string) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %v is not an object", at, got)
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s/%s: missing", at, k)
			}
			if err := subset(gv, wv, at+"/"+k); err != nil {
				return err
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) < len(w) {
			return fmt.Errorf("%s: %v has fewer items than %v", at, got, w)
		}
		for i := range w {
			if err := subset(g[i], w[i], fmt.Sprintf("%s/%d", at, i)); err != nil {
				return err
			}
		}
		if len(w) == 0 && len(g) != 0 {
			return fmt.Errorf("%s: %v, the README shows []", at, got)
		}
	case string:
		g, ok := got.(string)
		prefix, wild := strings.CutSuffix(w, "…")
		if !ok || (wild && !strings.HasPrefix(g, prefix)) || (!wild && g != w) {
			return fmt.Errorf("%s: %v, the README shows %q", at, got, w)
		}
	default:
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("%s: %v, the README shows %v", at, got, want)
		}
	}
	return nil
}
