package webhook

import (
	"time"

	"github.com/errandhq/errand/webhookkit"
)

// ParseSecret checks a webhook secret ("whsec_" + base64 of 24 to 64 bytes)
// and returns its HMAC key. The API validates submitted secrets with it; its
// errors wrap webhookkit.ErrMalformedSecret and never contain the secret.
func ParseSecret(s string) ([]byte, error) { return webhookkit.ParseSecret(s) }

// Sign computes the webhook-signature header: "v1,<base64 HMAC-SHA256 of
// msgID.unixSeconds.body>" per secret, space-separated (rotation). The HMAC
// is webhookkit's, the same code receivers verify with.
func Sign(msgID string, ts time.Time, body []byte, secrets []string) (string, error) {
	return webhookkit.Sign(msgID, ts, body, secrets)
}
