package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/errandhq/errand/internal/agent"
	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/engine"
	"github.com/errandhq/errand/internal/httpapi"
	"github.com/errandhq/errand/internal/metrics"
	"github.com/errandhq/errand/internal/model"
	"github.com/errandhq/errand/internal/netguard"
	"github.com/errandhq/errand/internal/task"
	"github.com/errandhq/errand/internal/trace"
)

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
func newAgent(ctx context.Context, c Config, policy *netguard.Policy, m *metrics.Metrics) (agentSetup, error) {
	logger := c.Logger
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
		UserAgent: "errand/" + c.Version,
	}
	bc := browser.ChromiumConfig{Policy: policy, Logger: logger, SettleTimeout: c.SettleTimeout, MaxDownload: int64(c.DownloadMaxMiB) << 20}
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
		agent: &agent.Builtin{Loader: browser.ChromiumLoader{Browser: chrome, Screenshot: agent.PageScreenshot(trace.Capture{Off: c.TraceScreenshotsOff})}},
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
