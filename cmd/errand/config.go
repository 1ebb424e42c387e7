package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/errandhq/errand/internal/node"
)

// command is one errand command's flags, the environment variables it
// reads, and its help, which lists exactly those. A flag's environment twin
// applies when the flag is not given on the command line.
type command struct {
	name    string // "serve", "keys create"
	args    string // what follows the flags in the usage line
	summary string
	fs      *flag.FlagSet
	getenv  func(string) string
	env     []envVar
	checks  []func() error
}

// envVar is an environment variable a command reads: a flag's twin (flag
// set) or a variable of its own (read into set).
type envVar struct {
	name, flag, meaning string
	read                func(string) error
}

func newCommand(name, args, summary string, getenv func(string) string) *command {
	fs := flag.NewFlagSet("errand "+name, flag.ContinueOnError)
	fs.Usage = func() {} // parse prints the help itself
	return &command{name: name, args: args, summary: summary, fs: fs, getenv: getenv}
}

// twin binds the flag just defined to its environment variable.
func (c *command) twin(flagName, env string) {
	c.env = append(c.env, envVar{name: env, flag: flagName})
}

func (c *command) str(p *string, name, env, help string) {
	c.fs.StringVar(p, name, *p, help)
	c.twin(name, env)
}

// checked binds a flag with its twin, and checks its value once parsed.
func checked[T any](c *command, define func(*T, string, T, string), p *T, name, env, help string, ok func(T) bool, reason string) {
	define(p, name, *p, help)
	c.twin(name, env)
	c.checks = append(c.checks, func() error {
		if !ok(*p) {
			return fmt.Errorf("--%s: %s", name, reason)
		}
		return nil
	})
}

// dur binds a duration flag that must not be negative.
func (c *command) dur(p *time.Duration, name, env, help string) {
	checked(c, c.fs.DurationVar, p, name, env, help, func(d time.Duration) bool { return d >= 0 }, "must not be negative")
}

// positive binds an integer flag that must be at least 1.
func (c *command) positive(p *int, name, env, help string) {
	checked(c, c.fs.IntVar, p, name, env, help, func(n int) bool { return n >= 1 }, "must be a positive integer")
}

// rate binds a number flag that must not be negative.
func (c *command) rate(p *float64, name, env, help string) {
	checked(c, c.fs.Float64Var, p, name, env, help, func(f float64) bool { return f >= 0 }, "must not be negative")
}

func (c *command) boolean(p *bool, name, env, help string) {
	c.fs.BoolVar(p, name, *p, help)
	c.twin(name, env)
}

// secret reads a variable of the environment only (keys are not flags, so
// they never show in a process list).
func (c *command) secret(p *string, env, meaning string) {
	c.env = append(c.env, envVar{name: env, meaning: meaning, read: func(v string) error { *p = v; return nil }})
}

// price reads a non-negative number from the environment only.
func (c *command) price(p *float64, env, meaning string) {
	c.env = append(c.env, envVar{name: env, meaning: meaning, read: func(v string) error {
		var f float64
		if _, err := fmt.Sscan(v, &f); err != nil || f < 0 {
			return fmt.Errorf("%s=%q: not a non-negative number", env, v)
		}
		*p = f
		return nil
	}})
}

// errHelp: the help was asked for and shown; the command ends with status 0.
var errHelp = errors.New("help shown")

// parse reads the environment, then args (a flag given wins over its
// twin). Asked for help (-h, --help), it prints it to stdout and returns
// errHelp; on a mistake it says what is wrong on stderr and returns exit
// status 2.
func (c *command) parse(args []string, stdout, stderr io.Writer) error {
	c.fs.SetOutput(stderr)
	err := c.fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		c.help(stdout)
		return errHelp
	}
	if err != nil {
		fmt.Fprintf(stderr, "Run 'errand %s --help' for its flags.\n", c.name)
		return exitCode(2)
	}
	if c.args == "" && c.fs.NArg() > 0 {
		fmt.Fprintf(stderr, "errand %s: unexpected arguments: %s\n", c.name, strings.Join(c.fs.Args(), " "))
		return exitCode(2)
	}
	given := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	for _, ev := range c.env {
		v := c.getenv(ev.name)
		switch {
		case v == "" || given[ev.flag]:
		case ev.read != nil:
			if err := ev.read(v); err != nil {
				errs = append(errs, err)
			}
		default:
			if err := c.fs.Set(ev.flag, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: not a valid value for --%s", ev.name, v, ev.flag))
			}
		}
	}
	for _, check := range c.checks {
		if err := check(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// help prints the command's usage, flags and environment.
func (c *command) help(w io.Writer) {
	usage := "errand " + c.name
	n := 0
	c.fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		usage += " [flags]"
	}
	if c.args != "" {
		usage += " " + c.args
	}
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", usage, c.summary)
	if n > 0 {
		twins := map[string]string{}
		for _, ev := range c.env {
			if ev.flag != "" {
				twins[ev.flag] = ev.name
			}
		}
		fmt.Fprint(w, "\nFlags:\n")
		c.fs.VisitAll(func(f *flag.Flag) {
			kind, help := flag.UnquoteUsage(f)
			line := "  --" + f.Name
			if kind != "" {
				line += " " + kind
			}
			var notes []string
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
				notes = append(notes, "default "+f.DefValue)
			}
			if env := twins[f.Name]; env != "" {
				notes = append(notes, env)
			}
			if len(notes) > 0 {
				help += " (" + strings.Join(notes, "; ") + ")"
			}
			fmt.Fprintf(w, "%s\n      %s\n", line, help)
		})
	}
	if len(c.env) == 0 {
		fmt.Fprint(w, "\nIt reads no environment variables.\n")
		return
	}
	{
		fmt.Fprint(w, "\nEnvironment (a flag given on the command line wins over its variable):\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, ev := range c.env {
			meaning := ev.meaning
			if ev.flag != "" {
				meaning = "--" + ev.flag
			}
			fmt.Fprintf(tw, "  %s\t%s\n", ev.name, meaning)
		}
		tw.Flush()
	}
}

// storeFlags are the flags that say where the store is.
func storeFlags(c *command, cfg *node.Config) {
	c.str(&cfg.Data, "data", "ERRAND_DATA", "data folder of the embedded SQLite store")
	c.str(&cfg.DatabaseURL, "database-url", "ERRAND_DATABASE_URL", "postgres:// URL: use PostgreSQL instead of SQLite (several nodes may share it)")
}

// agentFlags are the flags that say how tasks are run: serve's and run's.
func agentFlags(c *command, cfg *node.Config) {
	c.str(&cfg.AllowNetworks, "allow-networks", "ERRAND_ALLOW_NETWORKS", "comma-separated CIDRs exempt from the network policy, e.g. 127.0.0.0/8,::1/128")
	c.str(&cfg.Browser, "browser", "ERRAND_BROWSER", "auto (Debian's Chromium if installed, else http), a Chromium binary path, a ws:// DevTools endpoint, or http (plain HTTP, no JavaScript)")
	c.str(&cfg.ModelURL, "model-url", "ERRAND_MODEL_URL", "OpenAI-compatible chat-completions base URL; none: the built-in extractor answers")
	c.str(&cfg.Model, "model", "ERRAND_MODEL", "model name (required with --model-url)")
	c.boolean(&cfg.Vision, "model-vision", "ERRAND_MODEL_VISION", "send a screenshot of the page with each step, for vision models")
	c.dur(&cfg.WebhookTimeout, "webhook-timeout", "ERRAND_WEBHOOK_TIMEOUT", "timeout of one webhook attempt")
	c.dur(&cfg.SettleTimeout, "settle-timeout", "ERRAND_SETTLE_TIMEOUT", "how long a page may take to settle (no request in flight, nothing it scheduled pending, its DOM no longer changing) after each load and action before it is read as it is; a task may ask for another (settleTimeout)")
	c.positive(&cfg.DownloadMaxMiB, "download-max-mib", "ERRAND_DOWNLOAD_MAX_MIB", "MiB a file a page downloads may have: a larger one is cancelled and fails its task (DOWNLOAD_TOO_LARGE)")
	c.secret(&cfg.ModelKey, "ERRAND_MODEL_KEY", "the model endpoint's API key")
	c.env = append(c.env, envVar{name: "OPENAI_API_KEY", meaning: "the model endpoint's API key, when ERRAND_MODEL_KEY is not set",
		read: func(v string) error {
			if cfg.ModelKey == "" {
				cfg.ModelKey = v
			}
			return nil
		}})
	c.price(&cfg.Prices.InputPerMTok, "ERRAND_PRICE_INPUT_PER_MTOK", "USD per million input tokens, for cost (default 0.60)")
	c.price(&cfg.Prices.OutputPerMTok, "ERRAND_PRICE_OUTPUT_PER_MTOK", "USD per million output tokens (default 2.70)")
	c.price(&cfg.Prices.ComputePerMin, "ERRAND_PRICE_COMPUTE_PER_MIN", "USD per minute of task time (default 0.02)")
}

// nodeFlags are the flags of a node that runs tasks, besides how it is
// reached: errand serve's and errand mcp's.
func nodeFlags(c *command, cfg *node.Config) {
	c.dur(&cfg.SessionIdle, "session-idle", "ERRAND_SESSION_IDLE", "idle time after which a session expires")
	c.dur(&cfg.RetryBase, "webhook-retry-base", "ERRAND_WEBHOOK_RETRY_BASE", "with maxAttempts > 1, the wait before the 2nd attempt; it doubles each time, ±20%")
	c.dur(&cfg.RetryMax, "webhook-retry-max", "ERRAND_WEBHOOK_RETRY_MAX", "longest wait between webhook attempts")
	c.positive(&cfg.Workers, "workers", "ERRAND_WORKERS", "tasks run at once on this node")
	c.dur(&cfg.MonitorMinInterval, "monitor-min-interval", "ERRAND_MONITOR_MIN_INTERVAL", "the shortest interval a monitor's schedule may have")
	c.dur(&cfg.RescueAfter, "task-rescue-after", "ERRAND_TASK_RESCUE_AFTER", "a running task whose node stops heartbeating this long is run again by another node")
	// --trace-screenshots is the inverse of Config.TraceScreenshotsOff.
	shots := !cfg.TraceScreenshotsOff
	c.boolean(&shots, "trace-screenshots", "ERRAND_TRACE_SCREENSHOTS", "keep a screenshot of the page after each step in the task's trace")
	c.dur(&cfg.TraceMaxAge, "trace-max-age", "ERRAND_TRACE_MAX_AGE", "how long trace screenshots are kept (0s: no age limit)")
	c.positive(&cfg.TraceMaxMiB, "trace-max-size", "ERRAND_TRACE_MAX_SIZE", "MiB of trace screenshots kept in all, the oldest removed first")
	c.checks = append(c.checks, func() error { cfg.TraceScreenshotsOff = !shots; return nil })
}

// serveConfig is errand serve's configuration: a node's, and how the
// process serves it.
type serveConfig struct {
	node.Config
	Addr string
	// MetricsAddr, when set, serves /metrics without a key there.
	MetricsAddr string
	Grace       time.Duration
}

func serveCommand(getenv func(string) string) (*command, *serveConfig) {
	sc := &serveConfig{Config: node.Default(), Addr: "127.0.0.1:8080", Grace: 30 * time.Second}
	cfg := &sc.Config
	c := newCommand("serve", "", "Serve errand's HTTP API (docs/API.md): run tasks and deliver their webhooks.", getenv)
	c.str(&sc.Addr, "addr", "ERRAND_ADDR", "address to listen on")
	c.str(&sc.MetricsAddr, "metrics-addr", "ERRAND_METRICS_ADDR", "also serve /metrics here without an API key, for a scraper on a private interface (e.g. 10.0.0.5:9090); on --addr it needs a key")
	storeFlags(c, cfg)
	agentFlags(c, cfg)
	c.dur(&cfg.InlineWait, "inline-wait", "ERRAND_INLINE_WAIT", "how long send-message and run-task wait for the result before answering pending (0s: never)")
	nodeFlags(c, cfg)
	c.rate(&cfg.RateLimit, "rate-limit", "ERRAND_RATE_LIMIT", "requests per second per API key; over it: 429 with Retry-After (0: no limit)")
	c.dur(&sc.Grace, "shutdown-grace", "ERRAND_SHUTDOWN_GRACE", "on SIGINT/SIGTERM, how long running work may finish; tasks still running then are queued again, to run from the start")
	c.secret(&cfg.APIKey, "ERRAND_API_KEY", "a bootstrap API key accepted besides stored keys (errand keys create)")
	c.secret(&cfg.SecretsKey, "ERRAND_SECRETS_KEY", "32 bytes, base64 or hex, that seal task secrets in the store; give every PostgreSQL node the same (SQLite default: <data>/secrets.key)")
	return c, sc
}
