// Package node wires one errand node from its configuration: the network
// policy, the agent (the built-in extractor or the model-driven loop, in
// Chromium or over plain HTTP), the store (SQLite or PostgreSQL), the box
// that seals secrets, the webhook dispatcher, the engine, the HTTP API and
// the dashboard beside it, and the trace retention. cmd/errand runs a node
// (serve, run); cmd/errand-bench measures several. It holds wiring only: every decision lives in the packages it wires.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/errandhq/errand/internal/agent"
	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/engine"
	"github.com/errandhq/errand/internal/httpapi"
	"github.com/errandhq/errand/internal/mcp"
	"github.com/errandhq/errand/internal/metrics"
	"github.com/errandhq/errand/internal/monitor"
	"github.com/errandhq/errand/internal/monitor/runner"
	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/seal"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/store/postgres"
	"github.com/errandhq/errand/internal/store/sqlite"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/trace"
	"github.com/errandhq/errand/internal/ui"
	"github.com/errandhq/errand/internal/webhook"
)

// Config is a node's configuration: errand serve's flags and environment
// variables, which the fields name.
type Config struct {
	// Data is the folder of the embedded SQLite store and its secrets key
	// file (--data). Default "./errand-data".
	Data string
	// DatabaseURL, a postgres:// URL, selects PostgreSQL instead of SQLite
	// (--database-url). Default none.
	DatabaseURL string
	// AllowNetworks are comma-separated CIDRs exempt from the network
	// policy (--allow-networks). Default none.
	AllowNetworks string
	// Browser is auto, a Chromium binary, a ws:// DevTools endpoint, or
	// http (--browser). Default "auto".
	Browser string
	// ModelURL is an OpenAI-compatible chat-completions base URL
	// (--model-url); none: the built-in extractor answers. Default none.
	ModelURL string
	// Model is the model's name (--model), required with ModelURL. Default
	// none.
	Model string
	// ModelKey is the model endpoint's API key (ERRAND_MODEL_KEY or
	// OPENAI_API_KEY). Default none.
	ModelKey string
	// Vision sends a viewport screenshot with each step (--model-vision).
	// Default false.
	Vision bool
	// SettleTimeout bounds how long a page may take to settle after each
	// load and action before it is read as it is (--settle-timeout).
	// Default browser.DefaultSettleTimeout (3s).
	SettleTimeout time.Duration
	// DownloadMaxMiB is the largest file a page may download, in MiB
	// (--download-max-mib): a larger one fails the task with
	// DOWNLOAD_TOO_LARGE. Default 50.
	DownloadMaxMiB int
	// APIKey is a bootstrap API key accepted besides stored keys
	// (ERRAND_API_KEY). Default none.
	APIKey string
	// SecretsKey seals task secrets and webhook credentials in the store
	// (ERRAND_SECRETS_KEY). Default: on SQLite, a key file in Data made on
	// first start; on PostgreSQL, a random key per process for task
	// secrets, and webhook credentials in clear (with a warning).
	SecretsKey string
	// InlineWait is how long send-message and run-task wait for a result
	// (--inline-wait). Default 0: never wait (errand serve's flag: 50s).
	InlineWait time.Duration
	// WebhookTimeout bounds one webhook attempt (--webhook-timeout).
	// Default 30s.
	WebhookTimeout time.Duration
	// SessionIdle is the idle time after which a session expires
	// (--session-idle). Default 5m.
	SessionIdle time.Duration
	// RetryBase and RetryMax space webhook retries (--webhook-retry-base,
	// --webhook-retry-max). Default 5s and 1h.
	RetryBase, RetryMax time.Duration
	// RescueAfter is how long a running task may go without its node's
	// heartbeat before another node runs it again (--task-rescue-after).
	// Default 30s.
	RescueAfter time.Duration
	// Workers is how many tasks run at once on this node (--workers).
	// Default 8.
	Workers int
	// MonitorMinInterval is the shortest interval a monitor's schedule may
	// have (--monitor-min-interval). Default monitor.DefaultMinInterval
	// (1 minute).
	MonitorMinInterval time.Duration
	// MonitorPoll is how often the node's scheduler looks for due
	// monitors. Default runner.DefaultPoll (250ms).
	MonitorPoll time.Duration
	// RateLimit caps requests per second per API key (--rate-limit).
	// Default 0: no limit.
	RateLimit float64
	// Prices turn usage into cost (ERRAND_PRICE_*). Default zero: no cost
	// (errand serve's: engine.DefaultPrices).
	Prices engine.Prices
	// TraceScreenshotsOff keeps no screenshot with the steps of task traces
	// (--trace-screenshots=false). Default false: a screenshot after each
	// step that acted on a page.
	TraceScreenshotsOff bool
	// TraceMaxAge is how long trace screenshots are kept (--trace-max-age).
	// Default 0: no age limit (errand serve's: 7 days).
	TraceMaxAge time.Duration
	// TraceMaxMiB caps the trace screenshots of all tasks together, the
	// oldest removed first (--trace-max-size). Default 0: no size limit
	// (errand serve's: 2048 MiB).
	TraceMaxMiB int
	// Version is errand's version, sent as User-Agent errand/<version>.
	// Default "dev".
	Version string
	// Logger receives the node's logs. Default: discarded.
	Logger *slog.Logger
}

// Default is the configuration errand serve starts from before its flags
// and environment.
func Default() Config {
	return Config{
		Data: "./errand-data", Browser: "auto", InlineWait: 50 * time.Second,
		WebhookTimeout: 30 * time.Second, SessionIdle: 5 * time.Minute,
		RetryBase: webhook.DefaultBackoffBase, RetryMax: webhook.DefaultBackoffMax,
		RescueAfter: 30 * time.Second, Workers: 8, Prices: engine.DefaultPrices,
		SettleTimeout: browser.DefaultSettleTimeout, DownloadMaxMiB: browser.DefaultMaxDownload >> 20,
		MonitorMinInterval: monitor.DefaultMinInterval,
		TraceMaxAge:        trace.DefaultMaxAge, TraceMaxMiB: int(trace.DefaultTotalBytes >> 20),
	}
}

func (c *Config) defaults() {
	d := Default()
	if c.Data == "" {
		c.Data = d.Data
	}
	if c.Browser == "" {
		c.Browser = d.Browser
	}
	if c.WebhookTimeout <= 0 {
		c.WebhookTimeout = d.WebhookTimeout
	}
	if c.SessionIdle <= 0 {
		c.SessionIdle = d.SessionIdle
	}
	if c.RescueAfter <= 0 {
		c.RescueAfter = d.RescueAfter
	}
	if c.Workers <= 0 {
		c.Workers = d.Workers
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Node is one errand node, wired: start its Engine (then its Monitors'
// scheduler), serve its Handler, stop the scheduler then the engine, and
// Close it.
type Node struct {
	// Config is what the node was made with, defaults applied.
	Config Config
	Store  store.Store
	Engine *engine.Engine
	// Monitors keeps and schedules monitors; its runs are the engine's
	// tasks.
	Monitors *runner.Runner
	Handler  http.Handler
	Policy   *netguard.Policy
	Metrics  *metrics.Metrics
	// Retention enforces the trace retention while it runs (Run).
	Retention *trace.Janitor
	// MCP serves the MCP tools at /mcp (part of Handler); close its
	// sessions when the server shuts down.
	MCP   *mcp.HTTP
	close func()
}

// Close releases the store and the browser; stop the engine first.
func (n *Node) Close() {
	n.Store.Close()
	n.close()
}

// New wires a node. Nothing runs until its engine is started.
func New(ctx context.Context, c Config) (*Node, error) {
	c.defaults()
	logger := c.Logger
	allow, err := netguard.ParseAllowList(c.AllowNetworks)
	if err != nil {
		return nil, fmt.Errorf("--allow-networks: %w", err)
	}
	policy := netguard.New(netguard.Config{Allow: allow})
	var st store.Store
	m := metrics.New(func(ctx context.Context) (int64, int64, int64, error) {
		d, err := st.Depths(ctx)
		return d.TasksQueued, d.TasksRunning, d.DeliveriesPending, err
	})
	box, creds, err := secretsBox(c)
	if err != nil {
		return nil, err
	}
	ag, err := newAgent(ctx, c, policy, m)
	if err != nil {
		return nil, err
	}
	st, err = openStore(ctx, c, creds)
	if err != nil {
		ag.close()
		return nil, err
	}
	if llm, ok := ag.agent.(*agent.LLM); ok {
		llm.Recipes = st // learned tasks live in the store, per tenant
		llm.Trace = trace.Capture{Off: c.TraceScreenshotsOff}
	}
	fail := func(err error) (*Node, error) {
		st.Close()
		ag.close()
		return nil, err
	}
	nodeID := task.NewID("node")
	deliveries, err := webhook.NewDispatcher(webhook.DispatcherConfig{
		Outbox:      st,
		Credentials: creds,
		Sender: &webhook.Sender{
			Client:    &http.Client{Transport: policy.Transport(netguard.TransportOptions{})},
			UserAgent: "errand/" + c.Version,
			Timeout:   c.WebhookTimeout,
			// A refused address will be refused again: no retry.
			Refused: netguard.IsBlocked,
		},
		Owner:   nodeID,
		Lease:   c.WebhookTimeout + 15*time.Second,
		Backoff: webhook.Backoff{Base: c.RetryBase, Max: c.RetryMax},
		Metrics: m,
		Logger:  logger,
	})
	if err != nil {
		return fail(err)
	}
	monitors := runner.New(runner.Config{
		Store: st, Secrets: box, MinInterval: c.MonitorMinInterval, Poll: c.MonitorPoll, Logger: logger,
	})
	eng := engine.New(engine.Config{
		Store:       st,
		Agent:       ag.agent,
		Monitors:    monitors,
		Deliveries:  deliveries,
		NodeID:      nodeID,
		Prices:      c.Prices,
		SessionIdle: c.SessionIdle,
		Queue:       store.QueueConfig{TaskWorkers: c.Workers},
		RescueAfter: c.RescueAfter,
		// Several heartbeats fit in the rescue time, so a busy node is
		// never taken for dead.
		HeartbeatEvery: min(5*time.Second, c.RescueAfter/4),
		Secrets:        box,
		Credentials:    creds,
		Metrics:        m,
		Logger:         logger,
	})
	// MCP clients reach the same engine at /mcp, through the API's keys.
	tools, err := mcp.NewServer(mcp.Config{Errand: mcp.Local{Engine: eng, Policy: policy, Monitors: monitors}, Version: c.Version, Logger: logger})
	if err != nil {
		return fail(err)
	}
	mcpHTTP := mcp.NewHTTP(tools)
	keys := &httpapi.Keys{Store: st, Bootstrap: c.APIKey}
	api := httpapi.NewHandler(httpapi.Deps{
		Engine: eng, Store: st, Monitors: monitors, Policy: policy, BootstrapKey: c.APIKey, Keys: keys,
		InlineWait: c.InlineWait, RateLimit: c.RateLimit, Metrics: m, Logger: logger,
		Ready: ag.ready, MCP: mcpHTTP,
	})
	// The dashboard at /ui/ sees what the API does, through the same keys
	// and engine; its logins are sealed with the secrets key, which every
	// node shares.
	dashboard, err := ui.New(ui.Deps{Engine: eng, Keys: keys, API: api, Monitors: monitors, Box: box, Logger: logger})
	if err != nil {
		return fail(err)
	}
	handler := http.NewServeMux()
	handler.Handle("/ui/", dashboard)
	handler.Handle("/", api)
	maxAge := c.TraceMaxAge
	if maxAge <= 0 {
		maxAge = -1 // no age limit
	}
	maxBytes := int64(c.TraceMaxMiB) << 20
	if maxBytes <= 0 {
		maxBytes = -1 // no size limit
	}
	retention := &trace.Janitor{Store: st, Retention: trace.Retention{MaxAge: maxAge, MaxBytes: maxBytes}, Logger: logger}
	return &Node{Config: c, Store: st, Engine: eng, Monitors: monitors, Handler: handler, Policy: policy, Metrics: m, Retention: retention, MCP: mcpHTTP, close: ag.close}, nil
}

// secretsBox makes the box that seals task secrets in the store, with the
// key in ERRAND_SECRETS_KEY; without one, on SQLite, a key file in the data
// folder (made on first start, so secrets survive a restart); on
// PostgreSQL, a random key and a warning, since then a task's secrets work
// only on the node that accepted it.
//
// creds, the box for webhook credentials, is the same box when its key
// outlives this process, and nil otherwise (PostgreSQL without a key): the
// credentials of a delivery owed across a restart, or sent by another node,
// must still open, so without a lasting key they are stored in clear, and
// the warning says so.
func secretsBox(c Config) (box, creds *seal.Box, err error) {
	switch {
	case c.SecretsKey != "":
		k, err := seal.ParseKey(c.SecretsKey)
		if err != nil {
			return nil, nil, fmt.Errorf("ERRAND_SECRETS_KEY: %w", err)
		}
		box, err = seal.New(k)
		return box, box, err
	case c.DatabaseURL == "":
		if err := os.MkdirAll(c.Data, 0o700); err != nil {
			return nil, nil, fmt.Errorf("--data: %w", err)
		}
		k, err := seal.KeyFile(filepath.Join(c.Data, "secrets.key"))
		if err != nil {
			return nil, nil, err
		}
		box, err = seal.New(k)
		return box, box, err
	default:
		c.Logger.Warn("ERRAND_SECRETS_KEY is not set: a task's secrets can only be used by the node that accepted it, and webhook credentials are stored in clear; give every node the same key")
		return seal.NewRandom(), nil, nil
	}
}

// OpenStore opens the store c names: PostgreSQL with DatabaseURL, else
// SQLite in Data (made if missing). errand keys uses it alone, without
// the key: webhook credentials still in clear are sealed by the next
// node that opens the store with it.
func OpenStore(ctx context.Context, c Config) (store.Store, error) {
	return openStore(ctx, c, nil)
}

// openStore is OpenStore; creds, when not nil, seals the webhook
// credentials the store still holds in clear.
func openStore(ctx context.Context, c Config, creds *seal.Box) (store.Store, error) {
	c.defaults()
	if c.DatabaseURL != "" {
		if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
			return nil, errors.New("--database-url: must be a postgres:// or postgresql:// URL")
		}
		st, err := postgres.Open(ctx, postgres.Config{URL: c.DatabaseURL, Logger: c.Logger, Credentials: creds})
		if err != nil {
			// pgx errors can quote the URL, password included: say only
			// what kind of failure it was.
			return nil, fmt.Errorf("--database-url: cannot open the PostgreSQL store: %s", redactDSN(err.Error(), c.DatabaseURL))
		}
		return st, nil
	}
	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	return sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(c.Data, "errand.db"), Logger: c.Logger, Credentials: creds})
}

// redactDSN removes the database URL's password from a message.
func redactDSN(msg, dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return msg
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "REDACTED")
	}
	return msg
}
