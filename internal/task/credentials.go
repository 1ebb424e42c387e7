package task

import (
	"encoding/json"
	"errors"
	"strings"
)

// Sealer seals bytes for an owner and opens them again (package seal's
// Box): the domain says what is secret, seal how it is hidden.
type Sealer interface {
	Seal(plain []byte, owner string) []byte
	Open(sealed []byte, owner string) ([]byte, error)
}

// credentials are what a webhook sends that must never be kept in clear:
// the Authorization value, the Standard Webhooks signing secrets, and the
// URL's userinfo (user:password, as written in the URL).
type credentials struct {
	Auth     string `json:"auth,omitempty"`
	Secret   string `json:"secret,omitempty"`
	Userinfo string `json:"userinfo,omitempty"`
}

// sealCredentials takes the credentials out of rawURL, auth and secret and
// seals them for owner. It returns the URL without its userinfo, and nil
// when there was nothing to seal.
func sealCredentials(s Sealer, owner, rawURL, auth, secret string) (string, []byte) {
	stripped, userinfo := SplitUserinfo(rawURL)
	c := credentials{Auth: auth, Secret: secret, Userinfo: userinfo}
	if c == (credentials{}) {
		return rawURL, nil
	}
	plain, _ := json.Marshal(c) // strings only: cannot fail
	return stripped, s.Seal(plain, owner)
}

// openCredentials opens what sealCredentials sealed for owner, with the
// URL it stripped.
func openCredentials(s Sealer, owner string, sealed []byte, rawURL string) (credentials, string, error) {
	var c credentials
	plain, err := s.Open(sealed, owner)
	if err == nil {
		err = json.Unmarshal(plain, &c)
	}
	if err != nil {
		return credentials{}, "", ErrCredentials
	}
	return c, joinUserinfo(rawURL, c.Userinfo), nil
}

// SealCredentials moves Auth, Secret and the URL's userinfo into
// SealedCredentials, sealed with s for owner (the task's id). A webhook
// with none of them, or sealed already, is left as it is.
func (w *Webhook) SealCredentials(s Sealer, owner string) {
	if w == nil || len(w.SealedCredentials) > 0 {
		return
	}
	url, sealed := sealCredentials(s, owner, w.URL, w.Auth, w.Secret)
	if sealed != nil {
		w.URL, w.Auth, w.Secret, w.SealedCredentials = url, "", "", sealed
	}
}

// OpenCredentials is the webhook with Auth, Secret and the URL's userinfo
// back from SealedCredentials, opened with s for owner. A webhook without
// sealed credentials comes back as it is; one whose credentials do not
// open, with ErrCredentials.
func (w Webhook) OpenCredentials(s Sealer, owner string) (Webhook, error) {
	if len(w.SealedCredentials) == 0 {
		return w, nil
	}
	c, url, err := openCredentials(s, owner, w.SealedCredentials, w.URL)
	if err != nil {
		return w, err
	}
	w.URL, w.Auth, w.Secret, w.SealedCredentials = url, c.Auth, c.Secret, nil
	return w, nil
}

// SealCredentials moves Auth, Secret and the URL's userinfo into
// SealedCredentials, sealed with s for the delivery's task. A delivery
// with none of them, or sealed already, is left as it is.
func (d *Delivery) SealCredentials(s Sealer) {
	if len(d.SealedCredentials) > 0 {
		return
	}
	url, sealed := sealCredentials(s, d.TaskID, d.URL, d.Auth, d.Secret)
	if sealed != nil {
		d.URL, d.Auth, d.Secret, d.SealedCredentials = url, "", "", sealed
	}
}

// OpenCredentials is the delivery ready to send: Auth, Secret and the
// URL's userinfo back from SealedCredentials, opened with s. A delivery
// without sealed credentials comes back as it is; one whose credentials do
// not open, with ErrCredentials.
func (d Delivery) OpenCredentials(s Sealer) (Delivery, error) {
	if len(d.SealedCredentials) == 0 {
		return d, nil
	}
	c, url, err := openCredentials(s, d.TaskID, d.SealedCredentials, d.URL)
	if err != nil {
		return d, err
	}
	d.URL, d.Auth, d.Secret, d.SealedCredentials = url, c.Auth, c.Secret, nil
	return d, nil
}

// ErrCredentials says that sealed webhook credentials do not open here.
var ErrCredentials = errors.New("the webhook's credentials do not open with this node's key (every node needs the same ERRAND_SECRETS_KEY)")

// SplitUserinfo returns rawURL without its userinfo ("user:password@"),
// byte for byte otherwise, and the userinfo as written. The authority ends
// at the first '/', '?' or '#' and the userinfo at its last '@', as
// net/url reads them; a URL without userinfo comes back whole, with "".
func SplitUserinfo(rawURL string) (stripped, userinfo string) {
	i := strings.Index(rawURL, "://")
	if i < 0 {
		return rawURL, ""
	}
	rest := rawURL[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at <= 0 {
		return rawURL, ""
	}
	return rawURL[:i+3] + rest[at+1:], rest[:at]
}

// joinUserinfo puts userinfo back into a URL that SplitUserinfo stripped.
func joinUserinfo(rawURL, userinfo string) string {
	i := strings.Index(rawURL, "://")
	if userinfo == "" || i < 0 {
		return rawURL
	}
	return rawURL[:i+3] + userinfo + "@" + rawURL[i+3:]
}

// CredentialsInClear reports whether the webhook holds an Auth, a Secret or
// a URL userinfo unsealed.
func (w *Webhook) CredentialsInClear() bool {
	if w == nil {
		return false
	}
	_, userinfo := SplitUserinfo(w.URL)
	return w.Auth != "" || w.Secret != "" || userinfo != ""
}

// CredentialsInClear reports whether the delivery holds an Auth, a Secret
// or a URL userinfo unsealed.
func (d Delivery) CredentialsInClear() bool {
	_, userinfo := SplitUserinfo(d.URL)
	return d.Auth != "" || d.Secret != "" || userinfo != ""
}
