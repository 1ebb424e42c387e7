package browser

import (
	"crypto/tls"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/netguard"
)

// TestProxyTunnelsAndRefuses checks the proxy on its own, with Go's client
// in Chromium's place: https goes through CONNECT to an allowed address,
// and refusals are a 403 that says why.
func TestProxyTunnelsAndRefuses(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure hello")
	}))
	defer tlsSrv.Close()
	policy := netguard.New(netguard.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	p := newProxy(policy, "127.0.0.1", slog.New(slog.DiscardHandler))
	defer p.close()
	id, err := p.newIdentity()
	if err != nil {
		t.Fatal(err)
	}
	defer id.close()
	id.setAvoid([]string{"avoid.example"})
	proxyURL, _ := url.Parse(id.addr())
	client := &http.Client{Transport: &http.Transport{
		Proxy:           http.ProxyURL(proxyURL),
		TLSClientConfig: &tls.Config{RootCAs: tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs},
	}}

	resp, err := client.Get(tlsSrv.URL)
	if err != nil {
		t.Fatalf("https through the proxy: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "secure hello" {
		t.Errorf("tunnelled body = %q", body)
	}

	for _, tc := range []struct{ url, reason string }{
		{"http://127.0.0.2:8080/", "127.0.0.2 is a loopback address"},
		{"http://[::1]:8080/", "::1 is a loopback address"},
		{"http://169.254.169.254/latest/meta-data/", "the cloud metadata service"},
		{"http://avoid.example/", "avoid.example is in the task's avoidDomains"},
	} {
		resp, err := client.Get(tc.url)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.url, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get(blockedHeader), tc.reason) || !strings.Contains(html.UnescapeString(string(body)), tc.reason) {
			t.Errorf("GET %s = %d %q %q, want 403 saying %q", tc.url, resp.StatusCode, resp.Header.Get(blockedHeader), body, tc.reason)
		}
	}
	if _, err := client.Get("https://avoid.example/"); err == nil {
		t.Errorf("CONNECT to an avoided domain succeeded")
	}
	if r, ok := id.refusal("avoid.example:443"); !ok || !strings.Contains(r, "avoidDomains") {
		t.Errorf("refusal of avoid.example:443 = %q %v", r, ok)
	}
}
