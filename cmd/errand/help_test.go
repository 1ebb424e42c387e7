package main

import (
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Every command's help shows its own flags and the environment variables
// it reads, nothing of the others', and asking for it is a success.
func TestHelpPerCommand(t *testing.T) {
	serverOnly := []string{"addr", "metrics-addr", "rate-limit", "inline-wait", "database-url", "shutdown-grace", "task-rescue-after", "session-idle", "workers", "webhook-retry-base", "webhook-retry-max",
		"trace-screenshots", "trace-max-age", "trace-max-size", "monitor-min-interval"}
	agent := []string{"allow-networks", "browser", "model-url", "model", "model-vision", "webhook-timeout", "settle-timeout", "download-max-mib"}
	agentEnv := []string{"ERRAND_ALLOW_NETWORKS", "ERRAND_BROWSER", "ERRAND_MODEL_URL", "ERRAND_MODEL", "ERRAND_MODEL_VISION",
		"ERRAND_WEBHOOK_TIMEOUT", "ERRAND_SETTLE_TIMEOUT", "ERRAND_DOWNLOAD_MAX_MIB", "ERRAND_MODEL_KEY", "OPENAI_API_KEY", "ERRAND_PRICE_INPUT_PER_MTOK", "ERRAND_PRICE_OUTPUT_PER_MTOK", "ERRAND_PRICE_COMPUTE_PER_MIN"}
	cases := []struct {
		args  []string
		flags []string
		env   []string
	}{
		{[]string{"serve"}, append(slices.Clone(serverOnly), append(agent, "data")...),
			append(slices.Clone(agentEnv), "ERRAND_ADDR", "ERRAND_METRICS_ADDR", "ERRAND_DATA", "ERRAND_DATABASE_URL", "ERRAND_INLINE_WAIT", "ERRAND_SESSION_IDLE",
				"ERRAND_WEBHOOK_RETRY_BASE", "ERRAND_WEBHOOK_RETRY_MAX", "ERRAND_WORKERS", "ERRAND_RATE_LIMIT", "ERRAND_SHUTDOWN_GRACE",
				"ERRAND_TASK_RESCUE_AFTER", "ERRAND_API_KEY", "ERRAND_SECRETS_KEY",
				"ERRAND_TRACE_SCREENSHOTS", "ERRAND_TRACE_MAX_AGE", "ERRAND_TRACE_MAX_SIZE", "ERRAND_MONITOR_MIN_INTERVAL")},
		{[]string{"run"}, append(slices.Clone(agent), "url", "output-type", "schema", "webhook", "max-duration"), agentEnv},
		{[]string{"keys", "create"}, []string{"name", "data", "database-url"}, []string{"ERRAND_DATA", "ERRAND_DATABASE_URL"}},
		{[]string{"listen"}, []string{"addr", "secret", "forward"}, nil},
		{[]string{"mcp"}, append(slices.Clone(agent), "server", "data", "database-url", "workers", "session-idle", "shutdown-grace",
			"webhook-retry-base", "webhook-retry-max", "monitor-min-interval", "task-rescue-after", "trace-screenshots", "trace-max-age", "trace-max-size"),
			append(slices.Clone(agentEnv), "ERRAND_SERVER", "ERRAND_DATA", "ERRAND_DATABASE_URL", "ERRAND_WORKERS", "ERRAND_SESSION_IDLE",
				"ERRAND_SHUTDOWN_GRACE", "ERRAND_API_KEY", "ERRAND_SECRETS_KEY", "ERRAND_WEBHOOK_RETRY_BASE", "ERRAND_WEBHOOK_RETRY_MAX",
				"ERRAND_MONITOR_MIN_INTERVAL", "ERRAND_TASK_RESCUE_AFTER", "ERRAND_TRACE_SCREENSHOTS", "ERRAND_TRACE_MAX_AGE", "ERRAND_TRACE_MAX_SIZE")},
		{[]string{"version"}, nil, nil},
	}
	flagLine := regexp.MustCompile(`(?m)^  --([a-z-]+)`)
	envLine := regexp.MustCompile(`(?m)^  ([A-Z][A-Z_]+)  `)
	for _, tc := range cases {
		for _, h := range []string{"--help", "-h"} {
			name := strings.Join(append(slices.Clone(tc.args), h), " ")
			t.Run(name, func(t *testing.T) {
				var out, errOut syncBuffer
				err := run(t.Context(), append(slices.Clone(tc.args), h), func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
				if err != nil {
					t.Fatalf("errand %s: %v, want success\n%s", name, err, errOut.String())
				}
				help := out.String()
				if !strings.HasPrefix(help, "Usage: errand "+strings.Join(tc.args, " ")) {
					t.Errorf("help does not start with its usage line:\n%s", help)
				}
				var flags, env []string
				for _, m := range flagLine.FindAllStringSubmatch(help, -1) {
					flags = append(flags, m[1])
				}
				for _, m := range envLine.FindAllStringSubmatch(help, -1) {
					env = append(env, m[1])
				}
				slices.Sort(flags)
				want := slices.Sorted(slices.Values(tc.flags))
				if !slices.Equal(flags, want) {
					t.Errorf("flags shown = %v\nwant          %v", flags, want)
				}
				slices.Sort(env)
				wantEnv := slices.Sorted(slices.Values(tc.env))
				if !slices.Equal(env, wantEnv) {
					t.Errorf("environment shown = %v\nwant                %v", env, wantEnv)
				}
				if len(tc.env) == 0 && !strings.Contains(help, "It reads no environment variables.") {
					t.Errorf("help does not say it reads no environment:\n%s", help)
				}
			})
		}
	}

	// The group helps succeed too, and a mistake is exit status 2.
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}, {"keys", "--help"}, {"keys", "-h"}, {"help", "serve"}} {
		var out, errOut syncBuffer
		if err := run(t.Context(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); err != nil || out.String() == "" {
			t.Errorf("errand %s: %v, %d bytes of help", strings.Join(args, " "), err, len(out.String()))
		}
	}
	for _, args := range [][]string{{}, {"keys"}, {"serve", "--nope"}, {"run", "--addr", "x", "y"}, {"keys", "create", "--addr", "x"}, {"nope"}} {
		var out, errOut syncBuffer
		if err := run(t.Context(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); err != exitCode(2) {
			t.Errorf("errand %s: %v, want exit status 2", strings.Join(args, " "), err)
		}
	}
}

// errand-bench is a command of its own: its --help exits 0, and errand,
// the binary operators ship, links no test harness.
func TestBenchIsSeparate(t *testing.T) {
	out, err := exec.Command("go", "run", "../errand-bench", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-deliveries") {
		t.Errorf("errand-bench --help: %v\n%s", err, out)
	}
	deps, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, harness := range []string{"testing", "net/http/httptest", "github.com/errandhq/errand/internal/store/pgtest", "github.com/errandhq/errand/internal/model/modeltest"} {
		if slices.Contains(strings.Fields(string(deps)), harness) {
			t.Errorf("errand links %s", harness)
		}
	}
}
