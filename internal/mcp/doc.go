// Package mcp is errand as a Model Context Protocol server, on the
// official Go SDK (github.com/modelcontextprotocol/go-sdk, imported here as
// sdk): tools through which assistants and IDEs run web tasks.
//
// The tools are the HTTP API's operations, not a second definition of
// them: run_task, start_session and send_message take the request bodies
// of run-task, start-session and send-message (their input schemas are
// those of openapi.json), read by the API's own decoder, so that a bad
// argument gets the API's field-by-field message (details keyed by JSON
// Pointer); get_task and list_tasks take the parameters of GET
// /task/{sessionId}/{taskId} and GET /tasks; answers are the API's JSON
// answers. Behind the tools is an Errand: Local runs them in this process
// through the engine's methods (errand mcp, and /mcp on errand serve),
// Remote sends them to a running errand over its HTTP API (errand mcp
// --server).
//
// run_task and send_message wait for their task up to a timeout argument,
// reporting each step as a progress notification; a task that outlives
// the timeout runs on and get_task reads it later. Cancelling the call
// (notifications/cancelled) stops the task; a client that goes away
// leaves it running. Task secrets are checked like the API's and never
// appear in an answer, a progress message or a log line.
//
// Two transports: stdio (errand mcp, one client, its tenant given by the
// command) and streamable HTTP (HTTP, mounted at /mcp by the API, which
// authenticates the API key; each MCP session is bound to the key's
// tenant).
package mcp
