// Package ui is errand's web dashboard, served at /ui/ by errand itself from
// the binary alone: server-rendered html/template pages and a small
// stylesheet and script embedded with go:embed, no build step, no external
// fonts, scripts or CDNs, and a strict Content-Security-Policy (only this
// server's own scripts, styles and images; no inline script).
//
// A person logs in by pasting an API key into a password field. The
// dashboard then sees exactly what that key sees through the API: it
// resolves the key to its tenant the same way (httpapi.Keys) on every
// request, and reads and acts only through the engine's methods — the same
// ones the API's handlers call — never through SQL of its own.
//
// The login is a cookie holding the key sealed (AES-GCM, package seal, with
// the secrets key every node shares, so any node serves any login): it is
// HttpOnly, SameSite=Strict, Secure when the dashboard is served over TLS,
// and expires (12 hours by default). Logging out clears it; a copy taken
// before stays valid until it expires, as the key itself would. Every
// action (a POST: log in, log out, redeliver) carries a CSRF token bound
// to the login — the login form one bound to a cookie of its own — and
// cross-origin POSTs are refused as well (net/http's
// CrossOriginProtection).
//
// Pages: tasks and sessions, newest first, filtered by status and
// searched by id; a task page with its trace (each step's screenshot,
// action, tokens and cost), its answer, its webhook deliveries with every
// attempt and a Redeliver button. A running task's page follows the API's
// Server-Sent Events stream (GET /task/{sessionId}/{taskId}/events,
// relayed with the login's key) and redraws its parts as steps arrive.
package ui
