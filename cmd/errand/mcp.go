package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/errandhq/errand/internal/httpapi"
	"github.com/errandhq/errand/internal/mcp"
	"github.com/errandhq/errand/internal/node"
)

// mcpStdio is `errand mcp`: errand's MCP tools over stdin and stdout, for
// an assistant or IDE that starts it. It runs tasks in this process, in
// the data folder and with the options of errand serve, as the tenant of
// the bootstrap key (ERRAND_API_KEY on a server over the same data); or,
// with --server, sends the tools to a running errand with ERRAND_API_KEY.
// Logs go to stderr: stdout is the protocol's.
func mcpStdio(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg := node.Default()
	var server string
	grace := 10 * time.Second
	c := newCommand("mcp", "", "Serve errand's MCP tools (run_task, start_session, send_message, get_task, list_tasks and the monitor tools) over stdin and stdout, "+
		"for an assistant or IDE that starts it. Tasks run in this process, in the data folder (not shared with a running errand serve), "+
		"as the tenant of serve's ERRAND_API_KEY; with --server they run on a running errand, as ERRAND_API_KEY's tenant.", getenv)
	c.str(&server, "server", "ERRAND_SERVER", "base URL of a running errand (e.g. http://127.0.0.1:8080) to send the tools to, with ERRAND_API_KEY; none: run tasks in this process")
	storeFlags(c, &cfg)
	agentFlags(c, &cfg)
	nodeFlags(c, &cfg)
	c.dur(&grace, "shutdown-grace", "ERRAND_SHUTDOWN_GRACE", "when the client closes the connection, how long running tasks may finish; tasks still running then are queued again, to run at the next start")
	c.secret(&cfg.APIKey, "ERRAND_API_KEY", "with --server: the API key the tools act with (they see its tenant's tasks)")
	c.secret(&cfg.SecretsKey, "ERRAND_SECRETS_KEY", "32 bytes, base64 or hex, that seal task secrets in the store (SQLite default: <data>/secrets.key)")
	if err := c.parse(args, stdout, stderr); err != nil {
		return helpOrErr(err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	transport := &sdk.IOTransport{Reader: io.NopCloser(stdin), Writer: nopWriteCloser{stdout}}
	if server != "" {
		u, err := url.Parse(server)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("--server: must be an http or https URL such as http://127.0.0.1:8080")
		}
		if cfg.APIKey == "" {
			return errors.New("--server needs an API key in ERRAND_API_KEY")
		}
		srv, err := mcp.NewServer(mcp.Config{Errand: mcp.Remote{URL: server, Key: cfg.APIKey}, Version: version, Logger: logger})
		if err != nil {
			return err
		}
		return endOfInput(srv.Run(ctx, transport))
	}

	cfg.Version, cfg.Logger = version, logger
	n, err := node.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer n.Close()
	if err := n.Engine.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start the queue: %w", err)
	}
	n.Monitors.Start()
	retention, stopRetention := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRetention()
	go n.Retention.Run(retention)
	srv, err := mcp.NewServer(mcp.Config{
		Errand: mcp.Local{Engine: n.Engine, Policy: n.Policy, Monitors: n.Monitors}, Tenant: httpapi.BootstrapTenant,
		Version: version, Logger: logger,
	})
	if err == nil {
		logger.Info("serving MCP over stdio", "version", version, "data", cfg.Data)
		err = endOfInput(srv.Run(ctx, transport))
	}
	stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	_ = n.Monitors.Stop(stop)
	if serr := n.Engine.Stop(stop); serr != nil {
		logger.Warn("tasks interrupted by the exit are queued again", "err", serr)
	}
	return err
}

// endOfInput is the end of a stdio session: the client closing its end is
// how it says goodbye, and a signal is how the user does.
func endOfInput(err error) error {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// nopWriteCloser is stdout as the transport's writer: the session's end
// must not close the process's stdout.
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
