package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/monitor"
)

// config is errand serve's configuration: every flag has an environment
// twin, and a flag given on the command line wins over its twin.
type config struct {
	Addr          string
	Data          string
	DatabaseURL   string
	AllowNetworks string
	Browser       string
	ModelURL      string
	Model         string
	ModelKey      string
	APIKey        string
	SecretsKey    string
	InlineWait    time.Duration
	WebhookTO     time.Duration
	SessionIdle   time.Duration
	RetryBase     time.Duration
	RetryMax      time.Duration
	Grace         time.Duration
	RescueAfter   time.Duration
	SettleTimeout time.Duration
	MonitorMin    time.Duration
	Vision        bool
	Workers       int
	RateLimit     float64
	PriceIn       float64
	PriceOut      float64
	PriceCompute  float64
}

// envFlags binds flags to their environment twins.
type envFlags struct {
	fs     *flag.FlagSet
	getenv func(string) string
	errs   []error
}

func (e *envFlags) str(p *string, name, env, def, help string) {
	if v := e.getenv(env); v != "" {
		def = v
	}
	e.fs.StringVar(p, name, def, help+" ("+env+")")
}

func (e *envFlags) dur(p *time.Duration, name, env string, def time.Duration, help string) {
	if v := e.getenv(env); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: not a duration such as 30s or 5m", env, v))
		} else {
			def = d
		}
	}
	e.fs.DurationVar(p, name, def, help+" ("+env+")")
}

func (e *envFlags) integer(p *int, name, env string, def int, help string) {
	if v := e.getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: not a positive integer", env, v))
		} else {
			def = n
		}
	}
	e.fs.IntVar(p, name, def, help+" ("+env+")")
}

func (e *envFlags) float(p *float64, name, env string, def float64, help string) {
	e.envFloat(&def, env, def)
	e.fs.Float64Var(p, name, def, help+" ("+env+")")
}

// envFloat reads a price from the environment only.
func (e *envFlags) envFloat(p *float64, env string, def float64) {
	*p = def
	if v := e.getenv(env); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: not a non-negative number", env, v))
			return
		}
		*p = f
	}
}

func serveFlags(getenv func(string) string, out io.Writer) (*flag.FlagSet, *config, *envFlags) {
	c := &config{}
	fs := flag.NewFlagSet("errand serve", flag.ContinueOnError)
	fs.SetOutput(out)
	e := &envFlags{fs: fs, getenv: getenv}
	e.str(&c.Addr, "addr", "ERRAND_ADDR", "127.0.0.1:8080", "address to listen on")
	e.str(&c.Data, "data", "ERRAND_DATA", "./errand-data", "data folder of the embedded SQLite store")
	e.str(&c.DatabaseURL, "database-url", "ERRAND_DATABASE_URL", "", "postgres:// URL: use PostgreSQL instead of SQLite")
	e.str(&c.AllowNetworks, "allow-networks", "ERRAND_ALLOW_NETWORKS", "", "comma-separated CIDRs exempt from the network policy, e.g. 127.0.0.0/8,::1/128")
	e.str(&c.Browser, "browser", "ERRAND_BROWSER", "auto", "auto, a Chromium binary path, a ws:// DevTools endpoint, or http")
	e.str(&c.ModelURL, "model-url", "ERRAND_MODEL_URL", "", "OpenAI-compatible chat-completions base URL; none: the built-in extractor answers")
	e.str(&c.Model, "model", "ERRAND_MODEL", "", "model name")
	vision := getenv("ERRAND_MODEL_VISION")
	fs.BoolVar(&c.Vision, "model-vision", vision == "1" || vision == "true", "send a screenshot of the page with each step, for vision models (ERRAND_MODEL_VISION)")
	e.dur(&c.InlineWait, "inline-wait", "ERRAND_INLINE_WAIT", 50*time.Second, "how long send-message and run-task wait for the result (0: never)")
	e.dur(&c.WebhookTO, "webhook-timeout", "ERRAND_WEBHOOK_TIMEOUT", 30*time.Second, "timeout of one webhook attempt")
	e.dur(&c.SessionIdle, "session-idle", "ERRAND_SESSION_IDLE", 5*time.Minute, "idle time after which a session expires")
	e.dur(&c.RetryBase, "webhook-retry-base", "ERRAND_WEBHOOK_RETRY_BASE", 5*time.Second, "wait before the 2nd attempt when maxAttempts > 1; doubles each time")
	e.dur(&c.RetryMax, "webhook-retry-max", "ERRAND_WEBHOOK_RETRY_MAX", time.Hour, "longest wait between webhook attempts")
	e.dur(&c.Grace, "shutdown-grace", "ERRAND_SHUTDOWN_GRACE", 30*time.Second, "on SIGTERM, how long running work may finish before its tasks are queued again, to run from the start")
	e.dur(&c.RescueAfter, "task-rescue-after", "ERRAND_TASK_RESCUE_AFTER", 30*time.Second, "a running task whose node stops heartbeating this long is run again by another node")
	e.dur(&c.SettleTimeout, "settle-timeout", "ERRAND_SETTLE_TIMEOUT", browser.DefaultSettleTimeout, "how long a page may take to settle (no request in flight, nothing it scheduled pending, its DOM no longer changing) after each load and action before it is read as it is; a task may ask for another (settleTimeout)")
	e.dur(&c.MonitorMin, "monitor-min-interval", "ERRAND_MONITOR_MIN_INTERVAL", monitor.DefaultMinInterval, "the shortest interval a monitor's schedule may have")
	e.integer(&c.Workers, "workers", "ERRAND_WORKERS", 8, "tasks run at once on this node")
	e.float(&c.RateLimit, "rate-limit", "ERRAND_RATE_LIMIT", 0, "requests per second per API key (0: no limit)")
	c.ModelKey = getenv("ERRAND_MODEL_KEY")
	if c.ModelKey == "" {
		c.ModelKey = getenv("OPENAI_API_KEY")
	}
	c.APIKey = getenv("ERRAND_API_KEY")
	c.SecretsKey = getenv("ERRAND_SECRETS_KEY")
	e.envFloat(&c.PriceIn, "ERRAND_PRICE_INPUT_PER_MTOK", 0.60)
	e.envFloat(&c.PriceOut, "ERRAND_PRICE_OUTPUT_PER_MTOK", 2.70)
	e.envFloat(&c.PriceCompute, "ERRAND_PRICE_COMPUTE_PER_MIN", 0.02)
	return fs, c, e
}
