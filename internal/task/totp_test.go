package task

import (
	"encoding/base32"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestTOTPVectors checks codes against RFC 6238's appendix B vectors, in
// both written forms.
func TestTOTPVectors(t *testing.T) {
	b32 := func(s string) string { return base32.StdEncoding.EncodeToString([]byte(s)) }
	sha1 := b32("12345678901234567890")
	sha256 := b32("12345678901234567890123456789012")
	sha512 := b32("1234567890123456789012345678901234567890123456789012345678901234")
	tests := []struct {
		value string
		at    int64
		want  string
	}{
		{"otpauth://totp/RFC:test?secret=" + sha1 + "&digits=8", 59, "94287082"},
		{"otpauth://totp/RFC:test?secret=" + sha1 + "&digits=8", 1111111109, "07081804"},
		{"otpauth://totp/RFC:test?secret=" + sha256 + "&digits=8&algorithm=SHA256", 59, "46119246"},
		{"otpauth://totp/RFC:test?secret=" + sha512 + "&digits=8&algorithm=sha512", 20000000000, "47863826"},
		// The short form: SHA1, 6 digits, 30 s; spaces, case and padding
		// as people copy seeds.
		{"totp:" + strings.ToLower(sha1[:4]) + " " + sha1[4:], 59, "287082"},
		{"TOTP:" + sha1 + "====", 1111111109, "081804"},
		// A 60 s period: 59 and 0 are in the same step.
		{"otpauth://totp/x?secret=" + sha1 + "&period=60&digits=8", 59, "84755224"},
	}
	for _, tt := range tests {
		t.Run(tt.value[:20], func(t *testing.T) {
			if !IsTOTP(tt.value) {
				t.Fatalf("IsTOTP = false")
			}
			k, err := ParseTOTP(tt.value)
			if err != nil {
				t.Fatal(err)
			}
			got, err := k.Code(time.Unix(tt.at, 0))
			if err != nil || got != tt.want {
				t.Errorf("Code(%d) = %q, %v; want %q", tt.at, got, err, tt.want)
			}
		})
	}
	same, _ := ParseTOTP("otpauth://totp/x?secret=" + sha1 + "&period=60&digits=8")
	if a, b := code(t, same, 0), code(t, same, 59); a != b {
		t.Errorf("codes within one 60 s period differ: %s, %s", a, b)
	}
}

func code(t *testing.T, k TOTP, at int64) string {
	t.Helper()
	c, err := k.Code(time.Unix(at, 0))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTOTPRefused(t *testing.T) {
	const seed = "JBSWY3DPEHPK3PXP"
	tests := []struct{ value, why string }{
		{"otpauth://hotp/x?secret=" + seed + "&counter=1", "hotp"},
		{"otpauth://totp/x?issuer=Example", "no secret"},
		{"otpauth://totp/x?secret=NOT-BASE32!", "not base32"},
		{"otpauth://totp/x?secret=" + seed + "&digits=4", "digits"},
		{"otpauth://totp/x?secret=" + seed + "&digits=six", "digits"},
		{"otpauth://totp/x?secret=" + seed + "&period=0", "period"},
		{"otpauth://totp/x?secret=" + seed + "&algorithm=MD4", "algorithm"},
		{"otpauth://totp/x?secret=%zz", "do not parse"},
		{"totp:", "empty"},
		{"totp:1189", "not base32"},
	}
	for _, tt := range tests {
		t.Run(tt.why, func(t *testing.T) {
			if !IsTOTP(tt.value) {
				t.Fatalf("IsTOTP(%q) = false", tt.value)
			}
			_, err := ParseTOTP(tt.value)
			if err == nil || !errors.Is(err, ErrTOTP) || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("ParseTOTP(%q) = %v, want an error about %q", tt.value, err, tt.why)
			}
			if strings.Contains(err.Error(), seed) || strings.Contains(err.Error(), "NOT-BASE32") {
				t.Errorf("the error quotes the value: %v", err)
			}
		})
	}
	for _, plain := range []string{"hunter2", "otpauth", "https://example.com/otpauth://totp", " totp"} {
		if IsTOTP(plain) {
			t.Errorf("IsTOTP(%q) = true for an ordinary value", plain)
		}
	}
}
