package task

import (
	"encoding/base32"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// A secret field's value is a TOTP seed (RFC 6238, what an authenticator
// app holds) when it is written in one of two forms:
//
//   - an otpauth://totp/ URI, as an authenticator's QR code encodes it:
//     otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP&issuer=Example
//     (optional algorithm SHA1, SHA256 or SHA512; digits 6, 7 or 8; period
//     in seconds);
//   - "totp:" followed by the base32 seed a site shows under "can't scan
//     the code?": totp:JBSW Y3DP EHPK 3PXP (spaces and case do not matter;
//     SHA1, 6 digits, 30 seconds).
//
// Typing such a field types the code valid at that moment, never the seed.
const (
	totpURIPrefix    = "otpauth://"
	totpMarker       = "totp:"
	maxTOTPPeriod    = 3600
	defaultTOTPStep  = 30
	defaultTOTPDigit = otp.DigitsSix
)

// TOTP generates the one-time codes of a seed. The zero value is not
// usable: get one from ParseTOTP.
type TOTP struct {
	secret string // base32, upper case, no spaces or padding
	opts   totp.ValidateOpts
}

// ErrTOTP is the class of every error ParseTOTP returns; the messages name
// what is wrong, never the value.
var ErrTOTP = errors.New("not a valid TOTP seed")

func totpErr(why string) error { return &totpError{why} }

type totpError struct{ why string }

func (e *totpError) Error() string { return "is not a valid TOTP seed: " + e.why }
func (e *totpError) Is(target error) bool {
	return target == ErrTOTP
}

// IsTOTP reports whether a secret field's value is written as a TOTP seed
// (whether or not it is a valid one; ParseTOTP tells).
func IsTOTP(v string) bool {
	v = strings.TrimSpace(v)
	return hasPrefixFold(v, totpURIPrefix) || hasPrefixFold(v, totpMarker)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// ParseTOTP reads a secret field's value written as a TOTP seed (see
// IsTOTP). The error says what is wrong without quoting the value, so that
// it can go into an API answer.
func ParseTOTP(v string) (TOTP, error) {
	v = strings.TrimSpace(v)
	t := TOTP{opts: totp.ValidateOpts{Period: defaultTOTPStep, Digits: defaultTOTPDigit, Algorithm: otp.AlgorithmSHA1}}
	var seed string
	switch {
	case hasPrefixFold(v, totpMarker):
		seed = v[len(totpMarker):]
	case hasPrefixFold(v, totpURIPrefix):
		u, err := url.Parse(v)
		if err != nil {
			return TOTP{}, totpErr("the otpauth URI does not parse")
		}
		if !strings.EqualFold(u.Host, "totp") {
			return TOTP{}, totpErr("only otpauth://totp/ URIs are supported (counter-based hotp codes are not)")
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return TOTP{}, totpErr("the otpauth URI's parameters do not parse")
		}
		seed = q.Get("secret")
		if seed == "" {
			return TOTP{}, totpErr("the otpauth URI has no secret parameter")
		}
		if a := q.Get("algorithm"); a != "" {
			switch strings.ToUpper(a) {
			case "SHA1":
				t.opts.Algorithm = otp.AlgorithmSHA1
			case "SHA256":
				t.opts.Algorithm = otp.AlgorithmSHA256
			case "SHA512":
				t.opts.Algorithm = otp.AlgorithmSHA512
			default:
				return TOTP{}, totpErr("algorithm must be SHA1, SHA256 or SHA512")
			}
		}
		if d := q.Get("digits"); d != "" {
			n, err := strconv.Atoi(d)
			if err != nil || n < 6 || n > 8 {
				return TOTP{}, totpErr("digits must be 6, 7 or 8")
			}
			t.opts.Digits = otp.Digits(n)
		}
		if p := q.Get("period"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > maxTOTPPeriod {
				return TOTP{}, totpErr("period must be a whole number of seconds from 1 to 3600")
			}
			t.opts.Period = uint(n)
		}
	}
	seed = strings.ToUpper(strings.Join(strings.Fields(seed), ""))
	seed = strings.TrimRight(seed, "=")
	if seed == "" {
		return TOTP{}, totpErr("the seed is empty")
	}
	if _, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(seed); err != nil {
		return TOTP{}, totpErr("the seed is not base32 (letters A-Z and digits 2-7)")
	}
	t.secret = seed
	return t, nil
}

// Seed is the base32 seed, as a page might show it: the agent masks it
// like the value itself.
func (t TOTP) Seed() string { return t.secret }

// Code is the code valid at at.
func (t TOTP) Code(at time.Time) (string, error) {
	if t.secret == "" {
		return "", totpErr("the seed is empty")
	}
	return totp.GenerateCodeCustom(t.secret, at, t.opts)
}
