package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Cookie names. The session cookie is scoped to the dashboard's path.
const (
	sessionCookie = "errand_ui"
	loginCookie   = "errand_ui_login"
	cookiePath    = "/ui/"
	// sealContext binds sealed sessions to this use of the key.
	sealContext = "errand-ui-session"
)

// login is what the session cookie holds, sealed.
type login struct {
	// Key is the API key the person pasted: every request resolves it to
	// its tenant again, as the API does.
	Key string `json:"k"`
	// CSRF is the token every action of this login must carry.
	CSRF string `json:"c"`
	// Expires is when the login ends (unix seconds).
	Expires int64 `json:"e"`
}

var errNoLogin = errors.New("not logged in")

func randomToken() string {
	return rand.Text()
}

// secure reports whether the dashboard is served over TLS (directly or
// behind a proxy that says so), for the cookies' Secure flag.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (u *ui) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: cookiePath, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r),
	})
}

// startLogin seals a new login for key and sets its cookie.
func (u *ui) startLogin(w http.ResponseWriter, r *http.Request, key string) {
	l := login{Key: key, CSRF: randomToken(), Expires: u.now().Add(u.ttl).Unix()}
	plain, _ := json.Marshal(l) // strings and a number: cannot fail
	sealed := u.box.Seal(plain, sealContext)
	u.setCookie(w, r, sessionCookie, base64.RawURLEncoding.EncodeToString(sealed), int(u.ttl.Seconds()))
}

// loginOf opens the request's session cookie.
func (u *ui) loginOf(r *http.Request) (login, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return login{}, errNoLogin
	}
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return login{}, errNoLogin
	}
	plain, err := u.box.Open(sealed, sealContext)
	if err != nil {
		return login{}, errNoLogin
	}
	var l login
	if json.Unmarshal(plain, &l) != nil || l.Key == "" || l.CSRF == "" || u.now().Unix() >= l.Expires {
		return login{}, errNoLogin
	}
	return l, nil
}

// endLogin clears the session cookie.
func (u *ui) endLogin(w http.ResponseWriter, r *http.Request) {
	u.setCookie(w, r, sessionCookie, "", -1)
}

// csrfOK reports whether an action carries the expected token, in the
// X-CSRF-Token header (scripts) or the csrf form field.
func csrfOK(r *http.Request, want string) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return want != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// loginFormToken is the login form's CSRF token: a random value in a
// cookie of its own, which the form must send back.
func (u *ui) loginFormToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(loginCookie); err == nil && len(c.Value) >= 16 {
		return c.Value
	}
	tok := randomToken()
	u.setCookie(w, r, loginCookie, tok, int((time.Hour).Seconds()))
	return tok
}
