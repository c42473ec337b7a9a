package httpauth

import (
	"strings"
	"testing"
)

// FuzzParseOTP: the X-OTP and confirm-code parser never panics, and what
// it accepts is exactly six digits or a normalized recovery code that
// parses to itself.
func FuzzParseOTP(f *testing.F) {
	for _, s := range []string{
		"123456", "123 456", " 123456 ", "12345", "1234567", "12345a", "１２３４５６", "",
		"abcd-efgh-2345-wxyz", "ABCD EFGH 2345 WXYZ", "abcdefgh2345wxyz", "abcd-efgh-2345-wxy1",
		"abcd--efgh", "\x00123456", "123456\r\n", strings.Repeat("7", 64), strings.Repeat("a", 65),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, digits, rc := parseOTP(s)
		switch kind {
		case otpTOTP:
			for _, c := range digits {
				if c < '0' || c > '9' {
					t.Fatalf("%q: code %q", s, digits)
				}
			}
			if strings.Trim(s, " 0123456789") != "" {
				t.Fatalf("%q accepted as a code", s)
			}
		case otpRecovery:
			if len(rc) != recoveryCodeLen || strings.Trim(rc, recoveryAlphabet) != "" {
				t.Fatalf("%q normalized to %q", s, rc)
			}
			if again, ok := normalizeRecoveryCode(rc); !ok || again != rc {
				t.Fatalf("%q: normalizing %q again gave %q, %v", s, rc, again, ok)
			}
		case otpInvalid:
			if rc != "" || digits != [totpDigits]byte{} {
				t.Fatalf("%q: invalid, yet %q %q", s, digits, rc)
			}
		}
	})
}

// FuzzOpenTOTP: the sealed-secret parser never panics, and nothing but
// the genuine sealed value opens.
func FuzzOpenTOTP(f *testing.F) {
	keys := deriveTOTPKeys([]SigningKey{{ID: "k1", Secret: testKey1}})
	genuine := sealTOTPWith(keys, "u-1", []byte("12345678901234567890"), [24]byte{1, 2, 3})
	for _, s := range []string{genuine, "", "v1.", "v1.k1.", "v1.k1", "v1.k9." + genuine[6:], genuine + "A", genuine[:len(genuine)-1],
		"v2." + genuine[3:], "v1.k1.====", "v1.k1." + strings.Repeat("A", 300),
		genuine[:13] + "\r" + genuine[13:], genuine[:13] + "\n" + genuine[13:]} { // base64 skips CR and LF
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		secret, _, err := openTOTP(keys, "u-1", s)
		if err == nil && (s != genuine || string(secret) != "12345678901234567890") {
			t.Fatalf("%q opened to %q", s, secret)
		}
	})
}
