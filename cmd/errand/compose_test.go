package main

import (
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// compose is the part of compose.yaml a node's start depends on.
type compose struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       string            `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		DependsOn   map[string]any    `yaml:"depends_on"`
	} `yaml:"services"`
}

var composeVar = regexp.MustCompile(`\$\{([A-Z_]+)(:[?-][^}]*)?\}`)

// interpolate does what compose does with ${NAME}, ${NAME:-default} and
// ${NAME:?error}, from env.
func interpolate(t *testing.T, v string, env map[string]string) string {
	t.Helper()
	return composeVar.ReplaceAllStringFunc(v, func(m string) string {
		p := composeVar.FindStringSubmatch(m)
		if x := env[p[1]]; x != "" {
			return x
		}
		if strings.HasPrefix(p[2], ":-") {
			return p[2][2:]
		}
		t.Fatalf("compose.yaml needs %s: %s", p[1], strings.TrimPrefix(p[2], ":?"))
		return ""
	})
}

// The compose stack's two errand nodes, run as plain processes with
// compose.yaml's own environment on one PostgreSQL (no container tool runs
// in CI): both become ready, a task submitted to one is answered by the
// other, and its webhook is delivered once. Only what a container changes
// is changed: the database host (the compose service "db" is this test's
// PostgreSQL), the listen address (one port per node instead of 8080 in
// each container) and loopback allowed for the test's page and receiver.
func TestComposeStackNodes(t *testing.T) {
	raw, err := os.ReadFile("../../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	var nodes []string
	for name, svc := range c.Services {
		if svc.Build == "." {
			nodes = append(nodes, name)
		}
	}
	if len(nodes) != 2 {
		t.Fatalf("compose.yaml builds %d errand services, want 2: %v", len(nodes), nodes)
	}

	// Every variable compose sets is one errand serve reads.
	cmd, _ := serveCommand(func(string) string { return "" })
	known := map[string]bool{}
	for _, ev := range cmd.env {
		known[ev.name] = true
	}
	var secret [32]byte
	rand.Read(secret[:])
	shell := map[string]string{"ERRAND_API_KEY": testKey, "ERRAND_SECRETS_KEY": base64.StdEncoding.EncodeToString(secret[:])}
	db := pg.NewDatabase(t)

	site, rc := newSite(t), newReceiver(t, nil)
	var srvs []*server
	for _, name := range []string{"errand-1", "errand-2"} {
		svc, ok := c.Services[name]
		if !ok {
			t.Fatalf("compose.yaml has no service %s", name)
		}
		if _, ok := svc.DependsOn["db"]; !ok {
			t.Errorf("%s does not wait for db", name)
		}
		env := map[string]string{}
		for k, v := range svc.Environment {
			if !known[k] {
				t.Errorf("%s sets %s, which errand serve does not read", name, k)
			}
			env[k] = interpolate(t, v, shell)
		}
		u, err := url.Parse(env["ERRAND_DATABASE_URL"])
		if err != nil || u.Scheme != "postgres" || u.Host != "db:5432" {
			t.Fatalf("%s: ERRAND_DATABASE_URL = %q, want postgres://…@db:5432/…", name, env["ERRAND_DATABASE_URL"])
		}
		env["ERRAND_DATABASE_URL"] = db
		if env["ERRAND_ADDR"] != "0.0.0.0:8080" {
			t.Errorf("%s listens on %q inside its container, want 0.0.0.0:8080", name, env["ERRAND_ADDR"])
		}
		env["ERRAND_ADDR"] = "127.0.0.1:0"
		env["ERRAND_ALLOW_NETWORKS"] = "127.0.0.0/8"
		args := svc.Command
		if len(args) == 0 {
			args = []string{"serve"} // the image's CMD
		}
		srvs = append(srvs, launch(t, env, args))
	}

	for i, s := range srvs {
		if code, m := s.callKey(t, "", "GET", "/readyz", nil); code != 200 {
			t.Errorf("node %d not ready: %d %v", i+1, code, m)
		}
	}
	sid, tid := srvs[0].runTask(t, map[string]any{"taskDetails": "Read the news", "startingPoint": site.URL + "/news",
		"webhook": map[string]any{"name": "compose", "url": rc.URL + "/hook", "submittedData": "full_response"}})
	p := srvs[1].waitTask(t, sid, tid)
	if p["type"] != "task_completed" {
		t.Fatalf("node 2 polled the task of node 1: %v", p)
	}
	d := rc.waitN(t, 1, 30*time.Second)
	if d[0].Header.Get("Errand-Task-Id") != tid {
		t.Errorf("delivery of another task: %v", d[0].Header)
	}
	// Delivered once, and recorded as such on the shared database.
	if atts := srvs[1].attempts(t, sid, tid, 1, 30*time.Second); len(atts) != 1 || atts[0]["statusCode"] != 200.0 {
		t.Errorf("attempts = %v", atts)
	}
}
