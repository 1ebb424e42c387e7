// Package webhookkit is for programs that receive errand's webhooks. It
// checks that a delivery is genuine (the Authorization value, or the Standard
// Webhooks signature with a timestamp tolerance), decodes the bodies into
// typed values, and drops the duplicates that at-least-once delivery brings.
//
// errand itself signs and encodes through this package, so what the kit
// verifies and decodes is, by construction, what errand sends.
//
// A delivery is a POST with a JSON body and these headers: Authorization
// (the webhook's auth value, when set), webhook-id (the same on every
// attempt of one event), webhook-timestamp (unix seconds), webhook-signature
// (when the webhook has a secret), Errand-Event, Errand-Session-Id and
// Errand-Task-Id. Answer 2xx quickly; anything else is a failure, which
// errand retries only when the webhook asked for retries.
package webhookkit
