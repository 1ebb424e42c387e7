package webhookkit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names errand sets on every delivery. The first three are Standard
// Webhooks'; the Errand-* ones let an ai_response handler, whose body carries
// no ids, still correlate a delivery with its task.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
	HeaderEvent     = "Errand-Event"
	HeaderSessionID = "Errand-Session-Id"
	HeaderTaskID    = "Errand-Task-Id"
)

// SecretPrefix starts every signing secret (Standard Webhooks).
const SecretPrefix = "whsec_"

// Secret lengths Standard Webhooks recommends: shorter keys are guessable,
// longer ones add nothing to HMAC-SHA256.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

// ErrMalformedSecret is wrapped by every error ParseSecret returns. The
// messages never repeat the secret itself.
var ErrMalformedSecret = errors.New("malformed webhook secret")

// ParseSecret decodes a signing secret, "whsec_" followed by the standard
// base64 encoding of 24 to 64 random bytes, into its HMAC key.
func ParseSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: it must start with %q", ErrMalformedSecret, SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: the part after %q is not standard base64", ErrMalformedSecret, SecretPrefix)
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return nil, fmt.Errorf("%w: it must encode %d to %d bytes, not %d", ErrMalformedSecret, MinSecretBytes, MaxSecretBytes, len(key))
	}
	return key, nil
}

// Sign computes the webhook-signature header value of a message: for each
// secret, "v1," followed by the base64 HMAC-SHA256 of "msgID.timestamp.body"
// (timestamp in unix seconds), space-separated. Several secrets let a
// receiver rotate its secret without missing a delivery: it accepts any of
// the signatures.
func Sign(msgID string, ts time.Time, body []byte, secrets []string) (string, error) {
	if msgID == "" {
		return "", errors.New("webhookkit: sign: empty message id")
	}
	if len(secrets) == 0 {
		return "", errors.New("webhookkit: sign: no secret")
	}
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := ParseSecret(s)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, "v1,"+signature(key, msgID, ts.Unix(), body))
	}
	return strings.Join(sigs, " "), nil
}

// signature is the one HMAC of the package: Sign and Verifier both use it,
// and errand's sender signs through Sign, so sender and receiver cannot drift.
func signature(key []byte, msgID string, unix int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msgID))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, unix, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
