package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/errandhq/errand/internal/agent"
	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/engine"
	"github.com/errandhq/errand/internal/httpapi"
	"github.com/errandhq/errand/internal/metrics"
	"github.com/errandhq/errand/internal/model"
	"github.com/errandhq/errand/internal/monitor/runner"
	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/seal"
	"github.com/errandhq/errand/internal/store"
	"github.com/errandhq/errand/internal/store/postgres"
	"github.com/errandhq/errand/internal/store/sqlite"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/webhook"
)

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, c, envs := serveFlags(getenv, stderr)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if len(envs.errs) > 0 {
		return errors.Join(envs.errs...)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))

	a, err := buildApp(ctx, c, logger)
	if err != nil {
		return err
	}
	defer a.close()
	eng := a.engine

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	// The queue outlives ctx: on a signal it is stopped gracefully below.
	if err := eng.Start(context.WithoutCancel(ctx)); err != nil {
		ln.Close()
		return fmt.Errorf("start the queue: %w", err)
	}
	a.monitors.Start()
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Inline answers wait up to --inline-wait.
		WriteTimeout: c.InlineWait + 30*time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "errand %s listening on http://%s\n", version, ln.Addr())
	logger.Info("listening", "addr", ln.Addr().String(), "version", version)

	select {
	case err := <-served:
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.Grace)
		defer cancel()
		_ = a.monitors.Stop(stopCtx)
		_ = eng.Stop(stopCtx)
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "grace", c.Grace.String())
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.Grace)
	defer cancel()
	// Stop accepting first, let inline waits and running work finish up to
	// the grace period; tasks still running then are queued again (the
	// engine hands them back) and deliveries in flight stay owed.
	_ = srv.Shutdown(stopCtx)
	// No new monitor runs start; those started are the engine's to finish
	// or hand back, like any task.
	_ = a.monitors.Stop(stopCtx)
	if err := eng.Stop(stopCtx); err != nil {
		logger.Warn("work interrupted by the shutdown is owed again", "err", err)
	}
	logger.Info("stopped")
	return nil
}

// app is errand wired up: what serve and bench run.
type app struct {
	store      store.Store
	engine     *engine.Engine
	monitors   *runner.Runner
	handler    http.Handler
	policy     *netguard.Policy
	closeAgent func()
	cfg        *config
}

// close releases the store and the browser; stop the engine first.
func (a *app) close() {
	a.store.Close()
	a.closeAgent()
}

func buildApp(ctx context.Context, c *config, logger *slog.Logger) (*app, error) {
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
	ag, err := newAgent(ctx, c, policy, logger, m)
	if err != nil {
		return nil, err
	}
	st, err = openStore(ctx, c, logger)
	if err != nil {
		ag.close()
		return nil, err
	}
	box, err := secretsBox(c, logger)
	if err != nil {
		st.Close()
		ag.close()
		return nil, err
	}
	nodeID := task.NewID("node")
	deliveries, err := webhook.NewDispatcher(webhook.DispatcherConfig{
		Outbox: st,
		Sender: &webhook.Sender{
			Client:    &http.Client{Transport: policy.Transport(netguard.TransportOptions{})},
			UserAgent: "errand/" + version,
			Timeout:   c.WebhookTO,
			// A refused address will be refused again: no retry.
			Refused: netguard.IsBlocked,
		},
		Owner:   nodeID,
		Lease:   c.WebhookTO + 15*time.Second,
		Backoff: webhook.Backoff{Base: c.RetryBase, Max: c.RetryMax},
		Metrics: m,
		Logger:  logger,
	})
	if err != nil {
		st.Close()
		ag.close()
		return nil, err
	}
	monitors := runner.New(runner.Config{
		Store: st, Secrets: box, MinInterval: c.MonitorMin, Logger: logger,
	})
	eng := engine.New(engine.Config{
		Store:       st,
		Agent:       ag.agent,
		Monitors:    monitors,
		Deliveries:  deliveries,
		NodeID:      nodeID,
		Prices:      engine.Prices{InputPerMTok: c.PriceIn, OutputPerMTok: c.PriceOut, ComputePerMin: c.PriceCompute},
		SessionIdle: c.SessionIdle,
		Queue:       store.QueueConfig{TaskWorkers: c.Workers},
		RescueAfter: c.RescueAfter,
		// Several heartbeats fit in the rescue time, so a busy node is
		// never taken for dead.
		HeartbeatEvery: min(5*time.Second, c.RescueAfter/4),
		Secrets:        box,
		Metrics:        m,
		Logger:         logger,
	})
	handler := httpapi.NewHandler(httpapi.Deps{
		Engine: eng, Store: st, Monitors: monitors, Policy: policy, BootstrapKey: c.APIKey,
		InlineWait: c.InlineWait, RateLimit: c.RateLimit, Metrics: m, Logger: logger,
		Ready: ag.ready,
	})
	return &app{store: st, engine: eng, monitors: monitors, handler: handler, policy: policy, closeAgent: ag.close, cfg: c}, nil
}

// secretsBox makes the box that seals task secrets in the store, with the
// key in ERRAND_SECRETS_KEY; without one, on SQLite, a key file in the data
// folder (made on first start, so secrets survive a restart); on
// PostgreSQL, a random key and a warning, since then a task's secrets work
// only on the node that accepted it.
func secretsBox(c *config, logger *slog.Logger) (*seal.Box, error) {
	switch {
	case c.SecretsKey != "":
		k, err := seal.ParseKey(c.SecretsKey)
		if err != nil {
			return nil, fmt.Errorf("ERRAND_SECRETS_KEY: %w", err)
		}
		return seal.New(k)
	case c.DatabaseURL == "":
		k, err := seal.KeyFile(filepath.Join(c.Data, "secrets.key"))
		if err != nil {
			return nil, err
		}
		return seal.New(k)
	default:
		logger.Warn("ERRAND_SECRETS_KEY is not set: a task's secrets can only be used by the node that accepted it; give every node the same key")
		return seal.NewRandom(), nil
	}
}

func openStore(ctx context.Context, c *config, logger *slog.Logger) (store.Store, error) {
	if c.DatabaseURL != "" {
		if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
			return nil, errors.New("--database-url: must be a postgres:// or postgresql:// URL")
		}
		st, err := postgres.Open(ctx, postgres.Config{URL: c.DatabaseURL, Logger: logger})
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
	return sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(c.Data, "errand.db"), Logger: logger})
}

// agentSetup is the agent newAgent picked, with what goes with it.
type agentSetup struct {
	agent engine.Agent
	// close releases the browser.
	close func()
	// ready checks that the browser starts, when there is one.
	ready []httpapi.ReadyCheck
}

// newAgent picks the agent and the page loader: Chromium when one is
// configured or found (so pages that need JavaScript work), else plain
// HTTP.
func newAgent(ctx context.Context, c *config, policy *netguard.Policy, logger *slog.Logger, m *metrics.Metrics) (agentSetup, error) {
	var llm *model.Client
	if c.ModelURL != "" {
		if c.Model == "" {
			return agentSetup{}, errors.New("--model: required with --model-url (the model name the endpoint knows, e.g. gpt-4o-mini or llama3.1)")
		}
		// The endpoint is the operator's choice (often a local server), so
		// it is not subject to the network policy meant for task traffic.
		client, err := model.New(model.Config{BaseURL: c.ModelURL, APIKey: c.ModelKey, Model: c.Model})
		if err != nil {
			return agentSetup{}, fmt.Errorf("--model-url: %w", err)
		}
		llm = client
		if c.Browser == "http" {
			return agentSetup{}, errors.New("--browser http: the model-driven agent needs Chromium (auto, a binary path, or a ws:// endpoint)")
		}
	}
	fetcher := &browser.Fetcher{
		Client:    &http.Client{Transport: policy.Transport(netguard.TransportOptions{}), Timeout: 60 * time.Second},
		UserAgent: "errand/" + version,
	}
	bc := browser.ChromiumConfig{Policy: policy, Logger: logger, SettleTimeout: c.SettleTimeout}
	switch b := c.Browser; {
	case b == "http":
		return agentSetup{agent: &agent.Builtin{Loader: fetcher}, close: func() {}}, nil
	case b == "auto" || b == "":
		exec, err := browser.FindChromium()
		if err != nil && llm != nil {
			return agentSetup{}, fmt.Errorf("--model-url: the model-driven agent needs Chromium, and none was found (%v); install Debian's chromium or give --browser", err)
		}
		if err != nil {
			logger.Info("no Chromium found: pages are loaded over plain HTTP, without JavaScript")
			return agentSetup{agent: &agent.Builtin{Loader: fetcher}, close: func() {}}, nil
		}
		bc.Exec = exec
	case strings.HasPrefix(b, "ws://") || strings.HasPrefix(b, "wss://"):
		bc.WSURL = b
	default:
		if _, err := os.Stat(b); err != nil {
			return agentSetup{}, fmt.Errorf("--browser %q: not auto, http, a ws:// endpoint or an existing Chromium binary", b)
		}
		bc.Exec = b
	}
	chrome, err := browser.NewChromium(ctx, bc)
	if err != nil {
		return agentSetup{}, fmt.Errorf("--browser: %w", err)
	}
	logger.Info("pages are loaded in Chromium", "exec", bc.Exec, "ws", bc.WSURL != "")
	m.CountBrowserContexts(chrome.Contexts)
	setup := agentSetup{
		agent: &agent.Builtin{Loader: browser.ChromiumLoader{Browser: chrome}},
		close: func() { chrome.Close() },
		ready: []httpapi.ReadyCheck{{Name: "browser", Check: browserStarts(chrome)}},
	}
	if llm != nil {
		logger.Info("tasks are run by the model-driven agent", "model", c.Model)
		setup.agent = &agent.LLM{Model: llm, Browser: chrome, Screenshot: c.Vision}
	}
	return setup, nil
}

// browserStarts is the browser's readiness check: it opens a page in a
// browser context of its own (launching the browser if it is not running)
// and closes it again. Checks take turns, so probes never pile up tabs.
func browserStarts(chrome *browser.Chromium) func(ctx context.Context) error {
	var mu sync.Mutex
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		probe := task.NewID("readyz")
		defer chrome.CloseSession(probe)
		_, err := chrome.Tab(ctx, probe, browser.PageOptions{})
		return err
	}
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
