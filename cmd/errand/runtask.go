package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/errandhq/errand/internal/engine"
	"github.com/errandhq/errand/internal/httpapi"
	"github.com/errandhq/errand/internal/node"
	"github.com/errandhq/errand/internal/task"
)

// runOnce is `errand run`: one task in-process, no server. It prints each
// step as it happens (a live line on a terminal, plain lines otherwise),
// then the result as the API would give it; the exit status is non-zero
// when the task did not complete.
func runOnce(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := node.Default()
	c := newCommand("run", `"instruction"`, "Run one task in-process, without a server: print its steps as they happen, then its result as the API gives it. The exit status is 1 when the task does not complete.", getenv)
	pageURL := c.fs.String("url", "", "the page to start from (startingPoint; required without a model)")
	outputType := c.fs.String("output-type", "text", "text, structured_json or structured_csv")
	schemaFile := c.fs.String("schema", "", "file with the outputSchema (JSON Schema, or a JSON array of CSV columns)")
	hookURL := c.fs.String("webhook", "", "also POST the result to this URL (submittedData full_response)")
	maxDur := c.fs.Duration("max-duration", task.DefaultMaxDuration, "the task's maxDuration")
	agentFlags(c, &cfg)
	if err := c.parse(args, stdout, stderr); err != nil {
		return helpOrErr(err)
	}
	instruction := strings.TrimSpace(strings.Join(c.fs.Args(), " "))
	if instruction == "" {
		fmt.Fprintln(stderr, `usage: errand run --url URL [--output-type T] [--schema file.json] [--webhook URL] "instruction"`)
		return exitCode(2)
	}
	body := map[string]any{"taskDetails": instruction, "outputType": *outputType, "maxDuration": maxDur.Milliseconds()}
	if *pageURL != "" {
		body["startingPoint"] = *pageURL
	}
	if *schemaFile != "" {
		raw, err := os.ReadFile(*schemaFile)
		if err != nil {
			return fmt.Errorf("--schema: %w", err)
		}
		body["outputSchema"] = json.RawMessage(raw)
	}
	if *hookURL != "" {
		body["webhook"] = map[string]any{"name": "errand run", "url": *hookURL, "submittedData": "full_response"}
	}

	// The real engine on a throwaway store: the task runs exactly as the
	// server would run it.
	data, err := os.MkdirTemp("", "errand-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	cfg.Data, cfg.APIKey, cfg.Version = data, "run", version
	a, err := node.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	spec, err := httpapi.DecodeTask(a.Engine, a.Policy, body)
	if err != nil {
		var ae *httpapi.Error
		if errors.As(err, &ae) {
			for ptr, reason := range ae.Details {
				fmt.Fprintf(stderr, "errand run: %s: %s\n", runFlagFor(ptr), reason)
			}
			return exitCode(2)
		}
		return err
	}
	if err := a.Engine.Start(ctx); err != nil {
		return err
	}
	defer func() {
		stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		a.Engine.Stop(stop)
	}()
	t, err := a.Engine.RunTask(ctx, "run", spec)
	if err != nil {
		return err
	}
	live := isTerminal(stdout)
	cur, err := a.Engine.Follow(ctx, engine.FollowParams{
		TenantID: t.TenantID, SessionID: t.SessionID, TaskID: t.ID, Poll: 250 * time.Millisecond,
		Each: func(_ task.Task, steps []task.Step) error {
			for _, s := range steps {
				line := fmt.Sprintf("step %d  %-9s %s", s.N, s.Action, stepDetail(s))
				if live {
					fmt.Fprintf(stdout, "\r\033[K%s", line)
				} else {
					fmt.Fprintln(stdout, line)
				}
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	if live {
		fmt.Fprintln(stdout)
	}
	if spec.Webhook != nil {
		waitForAttempt(ctx, a, cur, stderr)
	}
	out, _ := json.MarshalIndent(httpapi.TaskAnswer(cur), "", "  ")
	fmt.Fprintln(stdout, string(out))
	if cur.Status != task.StatusCompleted {
		fmt.Fprintf(stderr, "errand run: task %s: %s %s\n", cur.Status, cur.ErrorCode, cur.ErrorMessage)
		return exitCode(1)
	}
	return nil
}

func stepDetail(s task.Step) string {
	d := s.URL
	if s.Error != "" {
		d += "  error: " + s.Error
	}
	return d + fmt.Sprintf("  (%d ms)", s.DurationMs)
}

// waitForAttempt waits (briefly) for the task's webhook to be attempted and
// reports how it went.
func waitForAttempt(ctx context.Context, a *node.Node, t task.Task, stderr io.Writer) {
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) {
		atts, err := a.Engine.Attempts(ctx, t.TenantID, t.SessionID, t.ID)
		if err == nil && len(atts) > 0 {
			last := atts[len(atts)-1]
			fmt.Fprintf(stderr, "webhook: attempt %d → status %d %s\n", last.Attempt, last.StatusCode, last.Error)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// isTerminal reports whether w is a character device (a live progress line
// makes sense there, not in a file or pipe).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// runFlagFor names the flag behind a task field, for error messages.
func runFlagFor(ptr string) string {
	switch {
	case ptr == "/startingPoint":
		return "--url"
	case ptr == "/outputType":
		return "--output-type"
	case strings.HasPrefix(ptr, "/outputSchema"):
		return "--schema"
	case strings.HasPrefix(ptr, "/webhook"):
		return "--webhook"
	case ptr == "/maxDuration":
		return "--max-duration"
	case ptr == "/taskDetails":
		return "the instruction"
	}
	return ptr
}
