package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/errandhq/errand/internal/node"
)

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd, c := serveCommand(getenv)
	if err := cmd.parse(args, stdout, stderr); err != nil {
		return helpOrErr(err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	c.Version, c.Logger = version, logger

	n, err := node.New(ctx, c.Config)
	if err != nil {
		return err
	}
	defer n.Close()
	eng := n.Engine

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	served := make(chan error, 2)
	var msrv *http.Server
	if c.MetricsAddr != "" {
		if msrv, err = serveMetrics(c.MetricsAddr, n, logger, served); err != nil {
			ln.Close()
			return err
		}
		defer msrv.Close()
	}
	// The queue outlives ctx: on a signal it is stopped gracefully below.
	if err := eng.Start(context.WithoutCancel(ctx)); err != nil {
		ln.Close()
		return fmt.Errorf("start the queue: %w", err)
	}
	n.Monitors.Start()
	srv := &http.Server{
		Handler:           n.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Inline answers wait up to --inline-wait.
		WriteTimeout: c.InlineWait + 30*time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// MCP clients keep an event stream open: end their sessions as the
	// shutdown begins rather than wait the grace period out for them.
	srv.RegisterOnShutdown(n.MCP.Close)
	retention, stopRetention := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRetention()
	go n.Retention.Run(retention)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "errand %s listening on http://%s\n", version, ln.Addr())
	logger.Info("listening", "addr", ln.Addr().String(), "version", version)
	if msrv != nil {
		fmt.Fprintf(stdout, "errand %s metrics on http://%s/metrics (no API key)\n", version, msrv.Addr)
	}

	select {
	case err := <-served:
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.Grace)
		defer cancel()
		_ = n.Monitors.Stop(stopCtx)
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
	// No new monitor run starts; those started are the engine's to finish
	// or hand back, like any task.
	_ = n.Monitors.Stop(stopCtx)
	if err := eng.Stop(stopCtx); err != nil {
		logger.Warn("work interrupted by the shutdown is owed again", "err", err)
	}
	logger.Info("stopped")
	return nil
}

// helpOrErr turns a command's errHelp into success.
func helpOrErr(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

// serveMetrics serves the node's /metrics on addr without a key, for an
// operator who binds it to a private interface. Nothing else is served
// there. A failure of the listener after it started ends serve via done.
func serveMetrics(addr string, n *node.Node, logger *slog.Logger, done chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", n.Metrics.Handler())
	srv := &http.Server{
		Addr: ln.Addr().String(), Handler: mux,
		ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			done <- fmt.Errorf("--metrics-addr: %w", err)
		}
	}()
	logger.Info("serving metrics without a key", "addr", srv.Addr)
	return srv, nil
}
