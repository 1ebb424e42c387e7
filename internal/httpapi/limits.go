package httpapi

import (
	"fmt"
	"unicode/utf8"
)

// Limits on what a request may carry (docs/API.md, "Limits"), each checked
// at submission with a 400 naming the field. Lengths are in characters
// (Unicode code points), as JSON Schema's maxLength counts them.
const (
	maxNameLen        = 200     // webhook.name
	maxDetailsLen     = 100_000 // taskDetails, and a guardrail answer
	maxURLLen         = 8192    // startingPoint, webhook.url, a redelivery's url
	maxAuthLen        = 8192    // webhook.auth: one header value
	maxSigningLen     = 1024    // webhook.secret, every secret together
	maxIDLen          = 200     // sessionId
	maxDomains        = 100     // avoidDomains entries
	maxDomainLen      = 253     // an avoidDomains entry, a secret's match (DNS's own limit)
	maxSecrets        = 20      // secrets entries
	maxSecretValueLen = 4096    // one secret value
)

// limit records a problem when s is longer than max characters.
func (o object) limit(name, s string, max int) bool {
	if len(s) > max && utf8.RuneCountInString(s) > max {
		o.probs.add(o.at(name), fmt.Sprintf("must be at most %d characters", max))
		return false
	}
	return true
}

// headerValueProblem says why s cannot be sent as an HTTP header value, or
// "". A receiver must get exactly the bytes the caller gave, so nothing is
// stripped: a value with a control character (NUL, CR, LF, any other C0 or
// C1 control, DEL) or a Unicode line or paragraph separator is refused. A
// horizontal tab is a header value's own whitespace and passes. The reason
// names the character's code point, never the value.
func headerValueProblem(s string) string {
	for _, r := range s {
		if r == '\t' {
			continue
		}
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == '\u2028' || r == '\u2029' {
			return fmt.Sprintf("must not contain control characters or line breaks (found U+%04X): it is sent as an HTTP header", r)
		}
	}
	return ""
}

// textProblem says why s is not a one-line name, or "": a control
// character or a line separator would split or forge log lines.
func textProblem(s string) string {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == '\u2028' || r == '\u2029' {
			return fmt.Sprintf("must be one line of text without control characters (found U+%04X)", r)
		}
	}
	return ""
}
