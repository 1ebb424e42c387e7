package browser_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/errandhq/errand/internal/browser"
	"github.com/errandhq/errand/internal/netguard"
)

// canary listens on an address the policy refuses and counts whatever
// reaches it: UDP datagrams, or TCP connections.
type canary struct {
	name string
	addr string // host:port, as a page would write it
	port int
	hits atomic.Int64
	what sync.Map // first bytes of what came, for the failure message
}

func udpCanary(t *testing.T, host string) *canary {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("UDP canary on %s: %v", host, err)
	}
	t.Cleanup(func() { pc.Close() })
	c := &canary{name: "UDP " + host, addr: pc.LocalAddr().String(), port: pc.LocalAddr().(*net.UDPAddr).Port}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			c.hits.Add(1)
			c.what.Store(from.String(), fmt.Sprintf("%d bytes: %q", n, buf[:min(n, 24)]))
		}
	}()
	return c
}

func tcpCanary(t *testing.T, host string) *canary {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("TCP canary on %s: %v", host, err)
	}
	t.Cleanup(func() { ln.Close() })
	c := &canary{name: "TCP " + host, addr: ln.Addr().String(), port: ln.Addr().(*net.TCPAddr).Port}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.hits.Add(1)
			conn.SetReadDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 64)
			n, _ := conn.Read(buf)
			c.what.Store(conn.RemoteAddr().String(), fmt.Sprintf("%q", buf[:n]))
			conn.Close()
		}
	}()
	return c
}

func (c *canary) String() string {
	var seen []string
	c.what.Range(func(k, v any) bool { seen = append(seen, fmt.Sprintf("%v from %v", v, k)); return true })
	return fmt.Sprintf("%s (%s) got %d: %s", c.name, c.addr, c.hits.Load(), strings.Join(seen, "; "))
}

// leakPage tries every way a page has to reach the canaries: WebRTC (STUN
// and TURN servers, and remote ICE candidates over UDP and TCP, so that
// connectivity checks are sent to them), WebTransport (QUIC over UDP),
// fetch, WebSocket, EventSource, sendBeacon, images, iframes, workers,
// prefetch, preconnect and DNS prefetch. It reports its progress to its own
// origin.
func leakPage(udp4, udp6, tcp4, tcp6 *canary) string {
	r := strings.NewReplacer("UDP4", fmt.Sprint(udp4.port), "UDP6", fmt.Sprint(udp6.port),
		"TCP4", fmt.Sprint(tcp4.port), "TCP6", fmt.Sprint(tcp6.port))
	return r.Replace(`<!doctype html><html><head><meta charset=utf-8><title>leak</title>
<link rel="dns-prefetch" href="//canary-dns.invalid">
<link rel="preconnect" href="http://127.0.0.1:TCP4">
<link rel="preconnect" href="http://[::1]:TCP6">
<link rel="prefetch" href="http://127.0.0.1:TCP4/prefetch">
<link rel="prefetch" href="http://[::1]:TCP6/prefetch">
</head><body><p>trying</p>
<img src="http://127.0.0.1:TCP4/img.png"><img src="http://[::1]:TCP6/img.png">
<iframe src="http://127.0.0.1:TCP4/frame"></iframe>
<script>
const report = (what) => fetch("/report?what=" + encodeURIComponent(what)).catch(() => {});
const quiet = (f) => { try { const p = f(); if (p && p.catch) p.catch(() => {}); } catch (e) {} };

async function webrtc() {
  const servers = [
    {urls: ["stun:127.0.0.1:UDP4", "stun:[::1]:UDP6"]},
    {urls: ["turn:127.0.0.1:UDP4?transport=udp", "turn:[::1]:UDP6?transport=udp",
            "turn:127.0.0.1:TCP4?transport=tcp", "turn:[::1]:TCP6?transport=tcp"],
     username: "u", credential: "p"},
  ];
  const a = new RTCPeerConnection({iceServers: servers});
  const b = new RTCPeerConnection();
  a.createDataChannel("leak");
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
  const candidates = [
    "candidate:1 1 udp 2122260223 127.0.0.1 UDP4 typ host",
    "candidate:2 1 udp 2122260222 ::1 UDP6 typ host",
    "candidate:3 1 tcp 1518280447 127.0.0.1 TCP4 typ host tcptype passive",
    "candidate:4 1 tcp 1518280446 ::1 TCP6 typ host tcptype passive",
    "candidate:5 1 udp 1686052607 127.0.0.1 UDP4 typ srflx raddr 0.0.0.0 rport 9",
  ];
  for (const c of candidates) {
    try { await a.addIceCandidate({candidate: c, sdpMid: "0", sdpMLineIndex: 0}); }
    catch (e) { report("candidate refused: " + e); }
  }
  window.peers = [a, b]; // keep them checking
}

async function run() {
  await webrtc().catch((e) => report("webrtc: " + e));
  for (const u of ["https://127.0.0.1:UDP4/wt", "https://[::1]:UDP6/wt"]) {
    quiet(() => { const wt = new WebTransport(u); wt.ready.catch(() => {}); wt.closed.catch(() => {}); });
  }
  for (const base of ["http://127.0.0.1:TCP4", "http://[::1]:TCP6"]) {
    quiet(() => fetch(base + "/fetch", {mode: "no-cors"}));
    quiet(() => fetch(base.replace("http:", "https:") + "/fetch-tls", {mode: "no-cors"}));
    quiet(() => navigator.sendBeacon(base + "/beacon", "x"));
    quiet(() => { const ws = new WebSocket(base.replace("http:", "ws:") + "/ws"); ws.onerror = () => {}; });
    quiet(() => { const es = new EventSource(base + "/events"); es.onerror = () => es.close(); });
    quiet(() => { new Image().src = base + "/pixel.png"; });
    quiet(() => { const w = new Worker(URL.createObjectURL(new Blob(["fetch('" + base + "/worker').catch(()=>{})"]))); });
  }
  report("started");
  // ICE paces its checks; give them (and the rest) time to be sent.
  setTimeout(() => report("done"), 3000);
}
run();
</script></body></html>`)
}

// leakRun serves the leak page from 127.0.0.2, the only network the policy
// allows, to a browser launched with extra flags, and returns once the page
// says it has tried everything and waited.
func leakRun(t *testing.T, flags []string, page string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("listening on 127.0.0.2: %v", err)
	}
	reports := make(chan string, 64)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	})
	mux.HandleFunc("GET /report", func(w http.ResponseWriter, r *http.Request) {
		reports <- r.URL.Query().Get("what")
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	policy := netguard.New(netguard.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}})
	c, err := browser.NewChromium(t.Context(), browser.ChromiumConfig{Policy: policy, Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tb, err := c.Tab(t.Context(), "leak", browser.PageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.Navigate(t.Context(), srv.URL+"/"); err != nil {
		t.Fatalf("Navigate: %v", err)
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case what := <-reports:
			if what == "done" {
				return
			}
			t.Logf("page: %s", what)
		case <-timeout:
			t.Fatal("the leak page did not finish")
		}
	}
}

// Nothing leaves errand's Chromium except through its policy proxy: while a
// page tries every way it has to reach UDP and TCP canaries on 127.0.0.1
// and ::1 (addresses the policy refuses), they receive nothing. A control
// run with WebRTC's IP handling policy put back to Chromium's default shows
// that the page does reach them when a path is open, so the test can fail.
func TestNothingBypassesTheProxy(t *testing.T) {
	needChromium(t)
	udp4, udp6, tcp4, tcp6 := udpCanary(t, "127.0.0.1"), udpCanary(t, "::1"), tcpCanary(t, "127.0.0.1"), tcpCanary(t, "::1")
	canaries := []*canary{udp4, udp6, tcp4, tcp6}
	page := leakPage(udp4, udp6, tcp4, tcp6)

	t.Run("control: WebRTC's default policy leaks", func(t *testing.T) {
		leakRun(t, []string{"force-webrtc-ip-handling-policy=default"}, page)
		if udp4.hits.Load()+udp6.hits.Load() == 0 {
			t.Fatalf("with WebRTC's default policy no UDP reached the canaries: the page no longer probes what it should\n%v\n%v", udp4, udp6)
		}
		t.Logf("control: %v; %v", udp4, udp6)
	})
	for _, c := range canaries {
		c.hits.Store(0)
		c.what.Clear()
	}

	t.Run("errand's flags", func(t *testing.T) {
		leakRun(t, nil, page)
		for _, c := range canaries {
			if c.hits.Load() != 0 {
				t.Errorf("a page reached a refused address outside the proxy: %v", c)
			}
		}
	})
}
