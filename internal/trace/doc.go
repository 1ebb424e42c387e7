// Package trace keeps the record of what a task did, step by step, so that
// a person can see why an answer came out wrong or a webhook did not
// arrive: each step's action and arguments (secrets as placeholders), the
// page's URL, the model's tokens and their cost, the time taken, a JPEG of
// the viewport after the step, and for the last step the answer and
// whether it validated.
//
// One writer, many readers. The writer is the agent: after each step that
// acted on a page it asks Capture.Shoot for a screenshot (the browser takes
// it) and hands it to the engine with the step, which stores both in one
// transaction (store.Store.AppendStep). The readers — the HTTP API's
// /task/{sessionId}/{taskId}/trace routes, the dashboard, the zip export —
// go through the engine, which builds the View here from the task and its
// steps.
//
// Where traces live: in the store, so that any node serves any trace — in
// the SQLite file in the data folder, or in PostgreSQL (table
// trace_shots, images out of line and uncompressed). A step's record is
// its row in the step log; its image goes with it when the task goes.
//
// Screenshots and secrets. A screenshot is taken only after a step's action
// has finished, never while a secret is being typed. Password fields show
// dots as browsers draw them. For a task with secrets, before each shot
// the browser covers, in a script world the page's own scripts cannot
// reach, every form field whose value contains one of the task's secret
// values and every piece of text that shows one (an e-mail address typed
// into a plain text field, a user name echoed on the next page); if that
// cannot be done the screenshot is not taken and the step says so. Text
// drawn into images or canvases cannot be read and so cannot be covered.
//
// Size and retention. Images are JPEG at quality 60 (Capture.Quality) of
// the viewport (1280×900 CSS pixels by default); one larger than
// Capture.MaxBytes (300 KiB) is taken again at half the size and a lower
// quality, and left out if it is still too large. A Janitor enforces the
// retention periodically on every node: images older than 7 days go, then
// the oldest until all images total at most 2 GiB (Retention). A removed
// image leaves its step's record and a note.
package trace
