package mcp

import (
	"context"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/errandhq/errand/internal/httpapi"
)

// SessionIdle is how long an MCP session over HTTP lives without a
// request before it is closed (a client that went away).
const SessionIdle = 30 * time.Minute

// HTTP serves an MCP server over the streamable HTTP transport, mounted in
// the API (httpapi.Deps.MCP) at /mcp: the API has checked the caller's key
// and its rate, and every tool call acts as the key's tenant. An MCP
// session is bound to the tenant that opened it; a request for it with
// another tenant's key is refused (403).
type HTTP struct {
	srv     *sdk.Server
	handler http.Handler
}

// NewHTTP serves srv over HTTP.
func NewHTTP(srv *sdk.Server) *HTTP {
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, &sdk.StreamableHTTPOptions{
		MaxRequestBodyBytes: httpapi.MaxBody,
		SessionTimeout:      SessionIdle,
		// The SDK refuses a request to a loopback address whose Host is
		// another name, against DNS rebinding of a local server without
		// authentication. Every request here carries an API key, which a
		// rebinding page cannot send, and errand behind a reverse proxy on
		// the same machine receives its public Host: the check would only
		// refuse those.
		DisableLocalhostProtection: true,
	})
	// The SDK binds a session to the user of its TokenInfo: the tenant
	// the API found for the key.
	tenant := func(_ context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
		t, ok := httpapi.Tenant(r.Context())
		if !ok {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{UserID: t}, nil
	}
	return &HTTP{srv: srv, handler: auth.RequireBearerToken(tenant, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(h)}
}

// ServeHTTP implements http.Handler.
func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.handler.ServeHTTP(w, r) }

// Close ends every MCP session, and with them their open event streams, so
// that a server shutting down does not wait for clients that keep a
// stream open. Tool calls in progress end; their tasks run on.
func (h *HTTP) Close() {
	for ss := range h.srv.Sessions() {
		_ = ss.Close()
	}
}
