package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/store/pgtest"
	"github.com/errandhq/errand/webhookkit"
)

// Webhook credentials (the auth value, the signing secret, a URL's
// password) are sealed at rest: after a run, a retry across a restart and
// a redelivery to a new URL, neither the SQLite files (WAL included) nor
// any PostgreSQL table holds them, no API answer shows them, and every
// attempt still carried them.
func TestWebhookCredentialsSealedAtRest(t *testing.T) {
	const (
		auth    = "Bearer rest-auth-4e7d1b"
		secret  = "whsec_cmVzdC1zZWNyZXQtOGYyYy1wYWRkaW5nLXBhZGRpbmc="
		pass    = "rest-pass-2b9a6c"
		newPass = "rest-newpass-7d30e1"
	)
	values := []string{"rest-auth-4e7d1b", "cmVzdC1zZWNyZXQtOGYyYy1wYWRkaW5nLXBhZGRpbmc", pass, newPass}
	key := map[string]string{"ERRAND_SECRETS_KEY": "q2Vb0mUe0V1x8yqgk8yq3h2bq1hQ3oQm5n3lX5C2mJk="}
	for _, tc := range []struct {
		name string
		env  map[string]string
		db   func(t *testing.T) (extra []string, scan func(t *testing.T, data string) []string)
	}{
		{"sqlite", nil, func(t *testing.T) ([]string, func(*testing.T, string) []string) {
			return nil, func(t *testing.T, data string) []string { return inDir(t, data, values) }
		}},
		{"postgres", key, func(t *testing.T) ([]string, func(*testing.T, string) []string) {
			url := pg.NewDatabase(t)
			return []string{"--database-url", url}, func(t *testing.T, _ string) []string { return inPostgres(t, url, values) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			site := newSite(t)
			var failFirst atomic.Bool
			failFirst.Store(true)
			rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/retry") && failFirst.Swap(false) {
					w.WriteHeader(503)
					return
				}
				w.WriteHeader(200)
			})
			extra, scan := tc.db(t)
			data := t.TempDir()
			args := append([]string{"--webhook-retry-base", "1s"}, extra...)
			srv := startServerEnv(t, data, tc.env, args...)
			var answers []string
			call := func(s *server, method, path string, body any) map[string]any {
				t.Helper()
				_, m := s.call(t, method, path, body)
				b, _ := json.Marshal(m)
				answers = append(answers, string(b))
				return m
			}
			run := func(s *server, hook map[string]any) [2]string {
				t.Helper()
				m := call(s, "POST", "/start/run-task", map[string]any{"taskDetails": "read", "startingPoint": site.URL + "/news", "webhook": hook})
				return [2]string{m["sessionId"].(string), m["taskId"].(string)}
			}
			withUser := strings.Replace(rc.URL, "http://", "http://user:"+pass+"@", 1)
			signed := run(srv, map[string]any{"name": "a", "url": rc.URL + "/signed", "auth": auth, "secret": secret, "submittedData": "just_ping"})
			basic := run(srv, map[string]any{"name": "b", "url": withUser + "/basic", "submittedData": "just_ping"})
			retry := run(srv, map[string]any{"name": "c", "url": rc.URL + "/retry", "auth": auth, "submittedData": "just_ping", "maxAttempts": 3})
			rc.waitN(t, 3, 30*time.Second)
			// Stopped while the retry is owed: it goes out from the store after
			// the restart, its credentials opened there.
			if found := scan(t, data); len(found) > 0 {
				t.Errorf("while running, the store holds %v in clear", found)
			}
			srv.stop(t)
			if found := scan(t, data); len(found) > 0 {
				t.Errorf("stopped, the store holds %v in clear", found)
			}
			srv = startServerEnv(t, data, tc.env, args...)
			rc.waitN(t, 4, 30*time.Second)
			// Redelivered elsewhere: the new URL's password replaces the old.
			call(srv, "POST", "/task/"+basic[0]+"/"+basic[1]+"/deliveries/redeliver",
				map[string]any{"url": strings.Replace(rc.URL, "http://", "http://user:"+newPass+"@", 1) + "/moved"})
			call(srv, "POST", "/task/"+signed[0]+"/"+signed[1]+"/deliveries/redeliver", map[string]any{"url": rc.URL + "/resigned"})
			got := rc.waitN(t, 6, 30*time.Second)

			byPath := map[string][]delivery{}
			for _, d := range got {
				byPath[d.Path] = append(byPath[d.Path], d)
			}
			basicAuth := func(p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+p)) }
			for _, c := range []struct {
				path, auth string
				n          int
				signed     bool
			}{
				{"/signed", auth, 1, true}, {"/basic", basicAuth(pass), 1, false}, {"/retry", auth, 2, false},
				{"/moved", basicAuth(newPass), 1, false}, {"/resigned", auth, 1, true},
			} {
				ds := byPath[c.path]
				if len(ds) != c.n {
					t.Fatalf("%s got %d requests, want %d", c.path, len(ds), c.n)
				}
				for _, d := range ds {
					if a := d.Header.Get("Authorization"); a != c.auth {
						t.Errorf("%s was sent Authorization %q, want %q", c.path, a, c.auth)
					}
					if c.signed {
						if err := webhookkit.Verify(d.Header, d.Body, []string{secret}, time.Minute); err != nil {
							t.Errorf("%s: the signature does not verify with the secret: %v", c.path, err)
						}
					}
				}
			}

			for _, tk := range [][2]string{signed, basic, retry} {
				call(srv, "GET", "/task/"+tk[0]+"/"+tk[1], nil)
				call(srv, "GET", "/task/"+tk[0]+"/"+tk[1]+"/deliveries", nil)
			}
			srv.stop(t)
			if found := scan(t, data); len(found) > 0 {
				t.Errorf("after the run, the store holds %v in clear", found)
			}
			everything := strings.Join(answers, "\n") + srv.logs.String()
			for _, v := range values {
				if strings.Contains(everything, v) {
					t.Errorf("an API answer or log line shows %q", v)
				}
			}
		})
	}
}

// inDir lists the values found in any file below dir.
func inDir(t *testing.T, dir string, values []string) []string {
	t.Helper()
	var all strings.Builder
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			all.Write(b)
		}
		return nil
	})
	var found []string
	for _, v := range values {
		if strings.Contains(all.String(), v) {
			found = append(found, v)
		}
	}
	return found
}

// inPostgres lists the values found in any row of any table of the
// database at url.
func inPostgres(t *testing.T, url string, values []string) []string {
	t.Helper()
	all := pgtest.Dump(t, url)
	var found []string
	for _, v := range values {
		if strings.Contains(all, v) {
			found = append(found, v)
		}
	}
	return found
}
