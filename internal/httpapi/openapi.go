package httpapi

import (
	_ "embed"
	"net/http"
)

// openAPIDoc is the OpenAPI 3.1 description of this API. It is written by
// hand, not generated, so that it can say what code cannot (the webhook
// payloads, the coming extensions, examples); openapi_test.go keeps it
// honest against routeTable and the real answers.
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPI serves openapi.json. It needs no key, so that tools can read the
// contract before anyone has one.
func (a *api) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	// A failed write means the client is gone: there is no one left to
	// tell, so no error envelope.
	_, _ = w.Write(openAPIDoc)
	return nil
}
