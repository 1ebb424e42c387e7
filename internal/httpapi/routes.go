package httpapi

import (
	"net/http"
	"time"
)

// route is one endpoint of the API.
type route struct {
	method, path string
	// public routes answer without an API key; all others need one.
	public  bool
	handler func(a *api, w http.ResponseWriter, r *http.Request) error
}

// routeTable lists the whole API surface. routes registers exactly these,
// and the OpenAPI test holds openapi.json to the same list, so a route
// cannot be added without being documented.
var routeTable = []route{
	{"GET", "/start/health", true, (*api).health},
	{"GET", "/healthz", true, (*api).liveness},
	{"GET", "/readyz", true, (*api).readiness},
	{"POST", "/start/start-session", false, (*api).startSession},
	{"POST", "/start/send-message", false, (*api).sendMessage},
	{"POST", "/start/run-task", false, (*api).runTask},
	{"GET", "/tasks", false, (*api).listTasks},
	{"GET", "/task/{sessionId}/{taskId}", false, (*api).getTask},
	{"DELETE", "/task/{sessionId}/{taskId}", false, (*api).deleteTask},
	{"GET", "/task/{sessionId}/{taskId}/files/{fileId}", false, (*api).getFile},
	{"GET", "/task/{sessionId}/{taskId}/deliveries", false, (*api).getDeliveries},
	{"POST", "/task/{sessionId}/{taskId}/deliveries/redeliver", false, (*api).redeliver},
	{"GET", "/task/{sessionId}/{taskId}/events", false, (*api).taskEvents},
	{"POST", "/task/{sessionId}/{taskId}/cancel", false, (*api).cancelTask},
	{"GET", "/task/{sessionId}/{taskId}/trace", false, (*api).getTrace},
	{"GET", "/task/{sessionId}/{taskId}/trace.zip", false, (*api).getTraceZip},
	{"GET", "/task/{sessionId}/{taskId}/trace/screenshots/{index}", false, (*api).getScreenshot},
	{"POST", "/monitors", false, (*api).createMonitor},
	{"GET", "/monitors", false, (*api).listMonitors},
	{"GET", "/monitors/{monitorId}", false, (*api).getMonitor},
	{"PATCH", "/monitors/{monitorId}", false, (*api).patchMonitor},
	{"DELETE", "/monitors/{monitorId}", false, (*api).deleteMonitor},
	{"POST", "/monitors/{monitorId}/run", false, (*api).runMonitor},
	{"GET", "/monitors/{monitorId}/runs", false, (*api).monitorRuns},
	{"GET", "/recipes", false, (*api).listRecipes},
	{"DELETE", "/recipes/{name}", false, (*api).deleteRecipe},
	{"POST", "/mcp", false, (*api).mcp},
	{"GET", "/mcp", false, (*api).mcp},
	{"DELETE", "/mcp", false, (*api).mcp},
	{"GET", "/metrics", false, (*api).metrics},
	{"GET", "/openapi.json", true, (*api).openAPI},
}

func (a *api) routes(mux *http.ServeMux) {
	for _, rt := range routeTable {
		h := func(w http.ResponseWriter, r *http.Request) error { return rt.handler(a, w, r) }
		if rt.public {
			mux.HandleFunc(rt.method+" "+rt.path, a.handle(h))
		} else {
			mux.HandleFunc(rt.method+" "+rt.path, a.authed(h))
		}
	}
	mux.HandleFunc("/", a.handle(notFound))
}

func (a *api) metrics(w http.ResponseWriter, r *http.Request) error {
	if a.Metrics == nil {
		return errorf(http.StatusNotFound, "NOT_FOUND", "metrics are not enabled")
	}
	a.Metrics.Handler().ServeHTTP(w, r)
	return nil
}

// mcp serves the Model Context Protocol's streamable HTTP transport
// (internal/mcp) to API-key holders; the MCP handler finds the caller's
// tenant with Tenant.
func (a *api) mcp(w http.ResponseWriter, r *http.Request) error {
	if a.MCP == nil {
		return errorf(http.StatusNotFound, "NOT_FOUND", "MCP is not served by this server")
	}
	// A tool call streams its task's progress for as long as it waits,
	// and a client's event stream stays open: past the write timeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	a.MCP.ServeHTTP(w, r)
	return nil
}

func notFound(w http.ResponseWriter, r *http.Request) error {
	return errorf(http.StatusNotFound, "NOT_FOUND", "no such endpoint: %s %s", r.Method, r.URL.Path)
}
