package browser

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/remote"

	"github.com/errandhq/errand/internal/netguard"
)

// ChromiumConfig configures a [Chromium].
type ChromiumConfig struct {
	// Exec is the Chromium binary to launch. Default: FindChromium's
	// answer (Debian's chromium-headless-shell, else chromium).
	Exec string
	// WSURL is the ws:// DevTools endpoint of a browser that runs already
	// (a browser pool); when set nothing is launched and Exec is ignored.
	// Default: none.
	WSURL string
	// Policy judges every request of every page, after DNS resolution.
	// Required.
	Policy *netguard.Policy
	// ProxyHost is the address the in-process proxy listens on, and that
	// the browser is told to use: a remote browser (WSURL) must be able to
	// reach it. Default: 127.0.0.1.
	ProxyHost string
	// Flags are extra command-line flags for a launched browser, such as
	// "--lang=de". Default: none.
	Flags []string
	// Width and Height are the viewport in CSS pixels. Default: 1280×900.
	Width, Height int
	// CallTimeout bounds one DevTools call; a browser that does not answer
	// a call in time, nor a health check after it, is taken as hung.
	// Default: 10s.
	CallTimeout time.Duration
	// NavigationTimeout bounds a page load. Default: 30s.
	NavigationTimeout time.Duration
	// SettleTimeout bounds the wait, after a load or an action, for the
	// page to settle: the network quiet and the DOM no longer changing
	// (see Tab). A task may ask for another (PageOptions). Default: 3s.
	SettleTimeout time.Duration
	// LaunchTimeout bounds starting (or connecting to) the browser.
	// Default: 30s.
	LaunchTimeout time.Duration
	// MaxDownload is the largest file a page may download, in bytes: a
	// larger one is cancelled as it arrives (Download.Err TooLarge).
	// Default: DefaultMaxDownload, 50 MiB.
	MaxDownload int64
	// DownloadDir is the folder the browser saves downloads in (a folder
	// per session in it) until they are handed over. A remote browser
	// (WSURL) must see it at the same path; without it, a remote browser's
	// downloads are refused. Default: a temporary folder per launch.
	DownloadDir string
	// Logger receives crashes and relaunches. Default: discard.
	Logger *slog.Logger
}

// Chromium drives one shared Chromium over the DevTools protocol, with an
// isolated browser context per session: cookies and storage persist across
// a session's tasks and are never shared between sessions. A browser that
// crashes or hangs fails the running task with a *BrowserError; the next
// Tab gets a freshly launched browser (whose sessions start empty).
//
// Every request the pages make goes through an in-process proxy that dials
// through the network policy and refuses the task's avoidDomains.
type Chromium struct {
	cfg   ChromiumConfig
	log   *slog.Logger
	proxy *proxy

	mu     sync.Mutex
	inst   *instance // nil before the first Tab and after a crash
	closed bool
}

// instance is one browser process (or one connection to a remote browser)
// and the session contexts living in it.
type instance struct {
	ctx          context.Context // chromedp context of the browser
	cancel       context.CancelFunc
	allocCancel  context.CancelFunc
	browser      *chromedp.Browser
	defaultProxy *identity
	sessions     map[string]*session
	downloads    *downloads
	// downloadDir is the temporary download folder made for this launch,
	// removed with it; "" when DownloadDir was given.
	downloadDir string

	deadOnce sync.Once
	dead     chan struct{} // closed when the instance was given up

	// tunnels are the sessions attached through the browser's own, not
	// flattened (see earlyTracker).
	tunnels sync.Map // target.SessionID → *frameTarget
}

// session is one session's browser context and its page.
type session struct {
	id      string
	context cdp.BrowserContextID
	proxy   *identity
	tab     *sessionTab
}

// NewChromium prepares a browser; it is launched (or connected to) on the
// first Tab, so that a server that never browses never pays for it.
func NewChromium(ctx context.Context, cfg ChromiumConfig) (*Chromium, error) {
	if cfg.Policy == nil {
		return nil, errors.New("browser: ChromiumConfig.Policy is required")
	}
	if cfg.WSURL == "" && cfg.Exec == "" {
		exe, err := FindChromium()
		if err != nil {
			return nil, err
		}
		cfg.Exec = exe
	}
	if cfg.WSURL != "" && !strings.HasPrefix(cfg.WSURL, "ws://") && !strings.HasPrefix(cfg.WSURL, "wss://") {
		return nil, fmt.Errorf("browser: %q is not a ws:// DevTools endpoint", cfg.WSURL)
	}
	if cfg.ProxyHost == "" {
		cfg.ProxyHost = "127.0.0.1"
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		cfg.Width, cfg.Height = 1280, 900
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.NavigationTimeout <= 0 {
		cfg.NavigationTimeout = 30 * time.Second
	}
	if cfg.SettleTimeout <= 0 {
		cfg.SettleTimeout = DefaultSettleTimeout
	}
	if cfg.LaunchTimeout <= 0 {
		cfg.LaunchTimeout = 30 * time.Second
	}
	if cfg.MaxDownload <= 0 {
		cfg.MaxDownload = DefaultMaxDownload
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Chromium{cfg: cfg, log: logger, proxy: newProxy(cfg.Policy, cfg.ProxyHost, logger)}, nil
}

// FindChromium returns the Chromium binary to launch: Debian's
// chromium-headless-shell when installed (its launcher on PATH is a shell
// script that does not exec, so the real binary in Chromium's library
// folder is returned), else chromium or google-chrome on PATH.
func FindChromium() (string, error) {
	for _, p := range []string{
		"/usr/lib/chromium/chromium-headless-shell",
		"/usr/lib/chromium/chromium",
	} {
		if isExecutable(p) {
			return p, nil
		}
	}
	for _, name := range []string{"chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("browser: no Chromium found (install Debian's chromium-headless-shell or chromium, or give a binary path or a ws:// endpoint)")
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Tab returns the page of a session's browser context, creating the context
// (and launching the browser) on first use. opts are the running task's;
// the URLs Network reports start afresh.
func (c *Chromium) Tab(ctx context.Context, sessionID string, opts PageOptions) (Tab, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, &BrowserError{Reason: "the browser is shut down"}
	}
	inst, err := c.instanceLocked(ctx)
	if err != nil {
		return nil, err
	}
	s := inst.sessions[sessionID]
	if s == nil {
		s, err = c.newSession(ctx, inst, sessionID)
		if err != nil {
			return nil, c.launchFailure(ctx, inst, "creating the session's browser context", err)
		}
		inst.sessions[sessionID] = s
	}
	s.proxy.setAvoid(opts.AvoidDomains)
	if s.tab == nil || s.tab.isBroken() {
		if s.tab != nil {
			go s.tab.close()
		}
		p, err := c.newTab(ctx, inst, s, "")
		if err != nil {
			return nil, c.launchFailure(ctx, inst, "opening the session's page", err)
		}
		s.tab = newSessionTab(c, inst, s, p)
	}
	s.tab.setOptions(opts)
	s.tab.Network()
	s.tab.Events()
	inst.downloads.reset(s)
	return s.tab, nil
}

// launchFailure maps an error met while preparing a session: the caller's
// cancellation stays itself, anything else is the browser's fault.
func (c *Chromium) launchFailure(ctx context.Context, inst *instance, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if inst != nil && !inst.alive() {
		return &BrowserError{Reason: "the browser exited while " + what}
	}
	if inst != nil && !c.responsive(inst) {
		c.discardLocked(inst, "not responding")
		return &BrowserError{Reason: "the browser stopped responding while " + what}
	}
	return &BrowserError{Reason: what + ": " + err.Error()}
}

// CloseSession drops a session's browser context: its page, cookies and
// storage.
func (c *Chromium) CloseSession(sessionID string) {
	c.mu.Lock()
	inst := c.inst
	var s *session
	if inst != nil {
		s = inst.sessions[sessionID]
		delete(inst.sessions, sessionID)
	}
	c.mu.Unlock()
	if s == nil {
		return
	}
	c.closeSession(inst, s)
}

func (c *Chromium) closeSession(inst *instance, s *session) {
	if s.tab != nil {
		s.tab.close()
	}
	if inst.alive() {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CallTimeout)
		cdp.Call(ctx, inst.browser, target.DisposeBrowserContext, target.DisposeBrowserContextParams{BrowserContextID: s.context})
		cancel()
	}
	s.proxy.close()
	inst.downloads.forget(s)
}

// Close shuts the browser down and removes its temporary profile.
func (c *Chromium) Close() error {
	c.mu.Lock()
	c.closed = true
	inst := c.inst
	c.inst = nil
	c.mu.Unlock()
	if inst != nil {
		c.shutdown(inst)
	}
	c.proxy.close()
	return nil
}

// instanceLocked returns the running browser, launching a new one when there
// is none or the last one died.
func (c *Chromium) instanceLocked(ctx context.Context) (*instance, error) {
	if c.inst != nil && c.inst.alive() {
		return c.inst, nil
	}
	if c.inst != nil {
		c.log.Warn("browser: relaunching after a crash")
		c.discardLocked(c.inst, "crashed")
	}
	inst, err := c.launch(ctx)
	if err != nil {
		return nil, err
	}
	c.inst = inst
	return inst, nil
}

// discardLocked gives an instance up: every call still running on it fails
// with a *BrowserError, and the next Tab launches a new browser.
func (c *Chromium) discardLocked(inst *instance, why string) {
	inst.markDead()
	if c.inst == inst {
		c.inst = nil
	}
	c.log.Warn("browser: giving the browser up", "why", why)
	go c.shutdown(inst)
}

func (c *Chromium) shutdown(inst *instance) {
	inst.markDead()
	for _, s := range inst.sessions {
		if s.tab != nil {
			s.tab.close()
		}
		s.proxy.close()
	}
	inst.cancel()
	inst.allocCancel() // waits for the process and removes the profile
	inst.defaultProxy.close()
	inst.downloads.close()
	if inst.downloadDir != "" {
		os.RemoveAll(inst.downloadDir)
	}
}

func (inst *instance) markDead() { inst.deadOnce.Do(func() { close(inst.dead) }) }

// alive reports whether the browser is still connected and not given up.
func (inst *instance) alive() bool {
	select {
	case <-inst.dead:
		return false
	case <-inst.browser.LostConnection:
		return false
	default:
		return true
	}
}

// lost is closed when the instance can no longer be used.
func (inst *instance) lost() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		select {
		case <-inst.dead:
		case <-inst.browser.LostConnection:
		}
		close(ch)
	}()
	return ch
}

// responsive asks the browser (not a page) for its version: a browser that
// cannot answer that in a few seconds is hung.
func (c *Chromium) responsive(inst *instance) bool {
	if !inst.alive() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(3*time.Second, c.cfg.CallTimeout))
	defer cancel()
	_, err := cdp.Call(ctx, inst.browser, cdpbrowser.GetVersion, cdp.Empty{})
	return err == nil
}

// launch starts Chromium (or connects to WSURL) and waits until it answers.
func (c *Chromium) launch(ctx context.Context) (*instance, error) {
	def, err := c.proxy.newIdentity()
	if err != nil {
		return nil, err
	}
	var actx context.Context
	var acancel context.CancelFunc
	if c.cfg.WSURL != "" {
		actx, acancel = remote.NewAllocator(context.Background(), c.cfg.WSURL)
	} else {
		actx, acancel = chromedp.NewExecAllocator(context.Background(), c.execOptions(def)...)
	}
	// The browser lives as long as bctx, not as long as the task that
	// happened to launch it.
	// chromedp's own complaints (a session it did not attach, an event it
	// does not know) are the browser's business, not the operator's.
	debug := func(format string, args ...any) { c.log.Debug("chromedp: " + fmt.Sprintf(format, args...)) }
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithBrowserOption(
		chromedp.WithBrowserLogf(debug), chromedp.WithBrowserErrorf(debug)))
	fail := func(err error) (*instance, error) {
		bcancel()
		acancel()
		def.close()
		return nil, err
	}
	if err := within(ctx, c.cfg.LaunchTimeout, func() error { return chromedp.Do(bctx) }); err != nil {
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		return fail(&BrowserError{Reason: "the browser did not start: " + err.Error()})
	}
	inst := &instance{
		ctx:          bctx,
		cancel:       bcancel,
		allocCancel:  acancel,
		browser:      chromedp.FromContext(bctx).Browser,
		defaultProxy: def,
		sessions:     map[string]*session{},
		dead:         make(chan struct{}),
	}
	if err := chromedp.ListenBrowser(bctx, inst.route); err != nil {
		return fail(err)
	}
	dir, deny := c.cfg.DownloadDir, false
	if dir == "" && c.cfg.WSURL != "" {
		deny = true // the remote browser's files would not be here
	} else if dir == "" {
		if dir, err = os.MkdirTemp("", "errand-downloads-*"); err != nil {
			return fail(fmt.Errorf("browser: the download folder: %w", err))
		}
		inst.downloadDir = dir
	}
	inst.downloads = newDownloads(c, inst, dir, deny)
	if err := chromedp.ListenBrowser(bctx, inst.downloads.onEvent); err != nil {
		inst.downloads.close()
		if inst.downloadDir != "" {
			os.RemoveAll(inst.downloadDir)
		}
		return fail(err)
	}
	return inst, nil
}

// execOptions are the command line of a launched browser: headless, as root
// in a container without a sandbox, quiet (no background requests of its
// own), and with every request sent to the policy proxy, loopback included
// (Chromium bypasses a proxy for localhost unless told "<-loopback>").
func (c *Chromium) execOptions(def *identity) []chromedp.ExecAllocatorOption {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(c.cfg.Exec),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-hang-monitor", true),
		chromedp.Flag("disable-prompt-on-repost", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints,DialMediaRouteProvider,AutofillServerCommunication"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		// Nothing may leave the browser but through the policy proxy.
		// WebRTC sends UDP (STUN, TURN, ICE checks to any candidate a page
		// adds) outside any HTTP proxy: its IP handling policy must forbid
		// non-proxied UDP, and the switch takes the policy as its value (a
		// bare --force-webrtc-ip-handling-policy leaves the default, which
		// leaks; leak_test.go proves both). TURN over TCP then goes through
		// the proxy, which judges it like any connection. QUIC (and so
		// WebTransport) is off. And the browser resolves no name itself:
		// with every request sent to the proxy, which resolves and judges
		// the address, a lookup by the browser could only be a DNS
		// prefetch or a WebRTC name, so every lookup fails at once (but
		// the proxy's own address: the rules apply to addresses too).
		chromedp.Flag("force-webrtc-ip-handling-policy", "disable_non_proxied_udp"),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE "+c.cfg.ProxyHost),
		chromedp.Flag("dns-prefetch-disable", true),
		chromedp.Flag("proxy-server", def.addr()),
		chromedp.Flag("proxy-bypass-list", "<-loopback>"),
		chromedp.WindowSize(c.cfg.Width, c.cfg.Height),
	}
	for _, f := range c.cfg.Flags {
		name, value, hasValue := strings.Cut(strings.TrimLeft(f, "-"), "=")
		if hasValue {
			opts = append(opts, chromedp.Flag(name, value))
		} else {
			opts = append(opts, chromedp.Flag(name, true))
		}
	}
	return opts
}

// newSession creates an isolated browser context whose requests go through
// a proxy listener of its own.
func (c *Chromium) newSession(ctx context.Context, inst *instance, id string) (*session, error) {
	px, err := c.proxy.newIdentity()
	if err != nil {
		return nil, err
	}
	var res target.CreateBrowserContextResult
	err = within(ctx, c.cfg.CallTimeout, func() error {
		var err error
		res, err = cdp.Call(inst.ctx, inst.browser, target.CreateBrowserContext, target.CreateBrowserContextParams{
			ProxyServer:     px.addr(),
			ProxyBypassList: "<-loopback>",
		})
		return err
	})
	if err != nil {
		px.close()
		return nil, err
	}
	s := &session{id: id, context: res.BrowserContextID, proxy: px}
	if err := within(ctx, c.cfg.CallTimeout, func() error { return inst.downloads.prepare(inst.ctx, s) }); err != nil {
		c.closeSession(inst, s)
		return nil, err
	}
	return s, nil
}

// within runs f, giving up after d or when ctx ends. f keeps running in the
// background when it is given up on; it must be bounded by a context that
// the caller cancels on failure (the browser's).
func within(ctx context.Context, d time.Duration, f func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- f() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-errc:
		return err
	case <-t.C:
		return fmt.Errorf("no answer in %s", d)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Contexts counts the open browser contexts (one per session in use).
func (c *Chromium) Contexts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inst == nil {
		return 0
	}
	return len(c.inst.sessions)
}
