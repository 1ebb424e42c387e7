package recipe

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode"
)

// Format is the version of Trace's JSON shape. A recipe in another format
// is not replayed (the model records a new one).
const Format = 1

// Recipe is one stored version of a learned task. Recipes belong to a
// tenant (one API key): a recipe is never used across tenants.
type Recipe struct {
	TenantID string
	Name     string
	// Version counts from 1; a heal stores version n+1 and keeps n.
	Version int
	// TaskID is the task whose run recorded this version.
	TaskID string
	// Reason says why this version exists: "recorded" for a first run, or
	// where and why the model took over from the previous version.
	Reason    string
	Trace     Trace
	CreatedAt time.Time
}

// Trace is what a run did, for replaying it.
type Trace struct {
	Format int `json:"format"`
	// Start is the page state once the starting point was opened (or, for a
	// task without one, the page the run began on): point 0.
	Start *Fingerprint `json:"start,omitempty"`
	Steps []Step       `json:"steps"`
	// Answer is how the answer is read off the page; nil when it could not
	// be tied to the page (the model wrote it in its own words): a replay
	// then asks the model for the answer alone.
	Answer *Node `json:"answer,omitempty"`
	// NoAnswer says why Answer is nil.
	NoAnswer string `json:"noAnswer,omitempty"`
	// Baseline is what the task cost when the model did all of it: the
	// figure a replay's savings are reported against.
	Baseline Usage `json:"baseline"`
}

// Usage is a run's model usage and time.
type Usage struct {
	InputTokens  int64   `json:"inputTokens"`
	OutputTokens int64   `json:"outputTokens"`
	ModelCalls   int     `json:"modelCalls"`
	Seconds      float64 `json:"seconds"`
}

// Step is one recorded action. Point n is the page state after the n-th
// step (point 0 before the first).
type Step struct {
	// Tool is the agent's tool: navigate, click, type, select, press_key,
	// scroll, back or wait.
	Tool string `json:"tool"`
	// Args are the tool's arguments without the element number, secrets as
	// placeholders ({{password}}), never values.
	Args json.RawMessage `json:"args,omitempty"`
	// Start marks the navigation to the task's startingPoint: a replay
	// opens the new task's own startingPoint there.
	Start bool `json:"start,omitempty"`
	// Element describes what click, type and select acted on.
	Element *Element `json:"element,omitempty"`
	// URL is the pattern of the page the step was taken on.
	URL string `json:"url,omitempty"`
	// Before and After are the page states around the step; After is nil
	// when the run did not look at the page between this step and the
	// next (a batch of actions).
	Before *Fingerprint `json:"before,omitempty"`
	After  *Fingerprint `json:"after,omitempty"`
}

// Use is one task's use of a recipe, for its statistics.
type Use struct {
	TenantID string
	Name     string
	Version  int
	TaskID   string
	// Mode is how the run went: ModeReplayed (no model call), ModeHealed
	// (the model took over and a new version was stored), ModeFailed.
	Mode          string
	ReplayedSteps int
	ModelSteps    int
	At            time.Time
}

// The modes of a run that involved a recipe.
const (
	ModeRecorded = "recorded" // no usable recipe: the model did it all and it was recorded
	ModeReplayed = "replayed" // replayed without a model call
	ModeHealed   = "healed"   // replayed up to a step, then the model took over; re-recorded
	ModeFailed   = "failed"   // the task failed
)

// Summary is a recipe as GET /recipes lists it.
type Summary struct {
	Name     string        `json:"name"`
	Versions []VersionInfo `json:"versions"`
	// Uses counts the tasks that replayed it (any version); Replayed those
	// that needed no model call, Healed those where the model took over,
	// Failed those that failed.
	Uses     int `json:"uses"`
	Replayed int `json:"replayed"`
	Healed   int `json:"healed"`
	Failed   int `json:"failed"`
	// LastUsedAt is the last use, nil when never used since recorded.
	LastUsedAt *time.Time `json:"lastUsedAt"`
}

// SuccessRate is the share of uses that replayed without the model, 0 when
// never used.
func (s Summary) SuccessRate() float64 {
	if s.Uses == 0 {
		return 0
	}
	return float64(s.Replayed) / float64(s.Uses)
}

// VersionInfo is one stored version in a Summary, newest first.
type VersionInfo struct {
	Version   int       `json:"version"`
	TaskID    string    `json:"taskId"`
	Reason    string    `json:"reason"`
	Steps     int       `json:"steps"`
	CreatedAt time.Time `json:"createdAt"`
}

// KeepVersions is how many versions of a recipe the stores keep: older
// ones are deleted when a new one is saved, so a page that keeps drifting
// does not grow the store without bound.
const KeepVersions = 20

var namePattern = regexp.MustCompile(`^[a-z0-9_-]{1,100}$`)

// ValidName reports whether name can name a recipe: 1 to 100 of
// a-z, 0-9, '-' and '_'.
func ValidName(name string) bool { return namePattern.MatchString(name) }

// Intent is what makes two tasks "the same task" for replay: "auto" finds
// the recipe by it.
type Intent struct {
	TaskDetails   string
	StartingPoint string
	OutputType    string
	OutputSchema  json.RawMessage
}

// AutoName is the name of the recipe of tasks with this intent: the same
// normalised taskDetails (case, spaces and final punctuation do not count),
// starting URL pattern (see URLPattern) and output type and schema (key
// order and spacing do not count) give the same name.
func AutoName(in Intent) string {
	h := sha256.New()
	h.Write([]byte(normalizeDetails(in.TaskDetails)))
	h.Write([]byte{0})
	if in.StartingPoint != "" {
		h.Write([]byte(URLPattern(in.StartingPoint)))
	}
	h.Write([]byte{0})
	h.Write([]byte(in.OutputType))
	h.Write([]byte{0})
	h.Write(canonicalJSON(in.OutputSchema))
	return "auto-" + hex.EncodeToString(h.Sum(nil))[:24]
}

func normalizeDetails(s string) string {
	s = strings.ToLower(strings.Join(strings.Fields(s), " "))
	return strings.TrimRightFunc(s, func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSpace(r) })
}

// canonicalJSON re-encodes raw with sorted keys and no spaces; raw that is
// not JSON is used as is.
func canonicalJSON(raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return nil
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	b, _ := json.Marshal(v) // maps marshal with sorted keys
	return b
}

// ErrNotFound is the answer of a store that has no such recipe for the
// tenant.
var ErrNotFound = errors.New("recipe: no such recipe")
