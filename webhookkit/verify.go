package webhookkit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far a webhook-timestamp may be from the receiver's
// clock. It bounds replays of a captured request while forgiving clock skew.
const DefaultTolerance = 5 * time.Minute

// DefaultMaxBody bounds what VerifyRequest reads. errand's bodies carry a
// task's result, which the API caps well below this.
const DefaultMaxBody = 10 << 20

// Errors of verification; test for them with errors.Is.
var (
	ErrMissingHeaders   = errors.New("webhookkit: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrInvalidTimestamp = errors.New("webhookkit: webhook-timestamp is not unix seconds")
	ErrTooOld           = errors.New("webhookkit: webhook-timestamp is too old")
	ErrTooNew           = errors.New("webhookkit: webhook-timestamp is too far in the future")
	ErrNoMatch          = errors.New("webhookkit: no signature matches")
	ErrBodyTooLarge     = errors.New("webhookkit: body too large")
)

// Verifier checks Standard Webhooks signatures. Make one with NewVerifier at
// start-up (secrets are parsed once) and share it: it is safe for concurrent
// use as long as its fields are not changed.
type Verifier struct {
	// Tolerance is how far the webhook-timestamp may be from Now, either
	// way. Default DefaultTolerance (5 minutes).
	Tolerance time.Duration
	// Now is the receiver's clock. Default time.Now.
	Now func() time.Time
	// MaxBody bounds the body VerifyRequest reads. Default DefaultMaxBody.
	MaxBody int64

	keys [][]byte
}

// NewVerifier makes a Verifier that accepts a signature made with any of
// secrets (several while a secret is being rotated).
func NewVerifier(secrets ...string) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("webhookkit: no secret")
	}
	v := &Verifier{}
	for _, s := range secrets {
		key, err := ParseSecret(s)
		if err != nil {
			return nil, err
		}
		v.keys = append(v.keys, key)
	}
	return v, nil
}

// Verify is the one-call form: it checks h and body against secrets with
// the given tolerance (0 means DefaultTolerance) and the system clock.
func Verify(h http.Header, body []byte, secrets []string, tolerance time.Duration) error {
	v, err := NewVerifier(secrets...)
	if err != nil {
		return err
	}
	v.Tolerance = tolerance
	return v.Verify(h, body)
}

// Verify checks that h carries a signature of body made with one of the
// verifier's secrets, and a timestamp within the tolerance. body must be the
// bytes exactly as received: re-encoded JSON does not verify.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrInvalidTimestamp
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	// Compare in seconds, as the header carries them; this also keeps a
	// huge header value from overflowing a time.Duration.
	skew := now().Unix() - unix
	switch {
	case skew > int64(tol/time.Second):
		return ErrTooOld
	case -skew > int64(tol/time.Second):
		return ErrTooNew
	}
	for _, key := range v.keys {
		want := []byte(signature(key, id, unix, body))
		for _, s := range strings.Fields(sigs) {
			version, sig, ok := strings.Cut(s, ",")
			if ok && version == "v1" && hmac.Equal([]byte(sig), want) {
				return nil
			}
		}
	}
	return ErrNoMatch
}

// VerifyRequest reads r's body (at most MaxBody bytes), verifies it and
// returns it. r.Body is replaced by a reader over the same bytes, so a
// handler can still decode it after verification.
func (v *Verifier) VerifyRequest(r *http.Request) ([]byte, error) {
	body, err := ReadBody(r, v.MaxBody)
	if err != nil {
		return nil, err
	}
	if err := v.Verify(r.Header, body); err != nil {
		return body, err
	}
	return body, nil
}

// ReadBody reads r's body up to max bytes (0 means DefaultMaxBody) and puts
// the bytes back as r.Body, so it can be read again.
func ReadBody(r *http.Request, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxBody
	}
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	r.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("webhookkit: reading body: %w", err)
	}
	if int64(len(body)) > max {
		return nil, ErrBodyTooLarge
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// CheckAuth reports whether r's Authorization header is exactly expected
// (the webhook's auth value, e.g. "Bearer token"). It compares in constant
// time, over hashes so that not even the length leaks. An empty expected
// value never matches: a receiver configured without a token must not
// accept every request.
func CheckAuth(r *http.Request, expected string) bool {
	if expected == "" {
		return false
	}
	got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
	want := sha256.Sum256([]byte(expected))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}
