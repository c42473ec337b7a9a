package httpauth

// Recovery codes: ten single-use codes, shown once when the second factor
// is turned on (or regenerated), for the day the phone is lost.
//
// Each code is 16 characters of the lower-case base32 alphabet (80 random
// bits), shown as four groups: "abcd-efgh-2345-wxyz". The store keeps a
// SHA-256 of each, never the code. A fast hash is right here, as for API
// keys (and unlike passwords): the codes are random, so there is no
// dictionary to try, and 2^80 guesses per code are out of reach however
// fast the hash. A slow password hash would buy nothing but a cost per
// login that an attacker could make the server pay. The hash is keyed by
// nothing secret, so rotating the signing keys leaves the codes valid; it
// includes the account ID, so one account's hashes say nothing of
// another's.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
)

const (
	recoveryCodeCount = 10
	recoveryCodeLen   = 16 // characters of recoveryAlphabet: 80 bits
	recoveryAlphabet  = "abcdefghijklmnopqrstuvwxyz234567"
)

// newRecoveryCodes returns n fresh codes, formatted for display, and the
// hashes the store keeps for account id.
func newRecoveryCodes(id string, n int) (codes, hashes []string) {
	for range n {
		var raw [recoveryCodeLen]byte
		_, _ = rand.Read(raw[:]) // never fails (crypto/rand)
		var norm [recoveryCodeLen]byte
		for i, b := range raw {
			norm[i] = recoveryAlphabet[b&31] // 256 is a multiple of 32: no bias
		}
		s := string(norm[:])
		codes = append(codes, s[0:4]+"-"+s[4:8]+"-"+s[8:12]+"-"+s[12:16])
		hashes = append(hashes, hashRecoveryCode(id, s))
	}
	return codes, hashes
}

// normalizeRecoveryCode reads a recovery code as a person may type it:
// any case, with or without the dashes or spaces between groups. ok is
// false unless it is 16 characters of the alphabet.
func normalizeRecoveryCode(s string) (string, bool) {
	if len(s) > maxOTPLen {
		return "", false
	}
	var out [recoveryCodeLen]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == ' ':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c >= 'a' && c <= 'z', c >= '2' && c <= '7':
		default:
			return "", false
		}
		if n == recoveryCodeLen {
			return "", false
		}
		out[n] = c
		n++
	}
	if n != recoveryCodeLen {
		return "", false
	}
	return string(out[:]), true
}

// hashRecoveryCode is what the store keeps of a normalized code of
// account id: hex(SHA-256(label | id | 0 | code)).
func hashRecoveryCode(id, code string) string {
	h := sha256.New()
	h.Write([]byte("httpauth-recovery-code-v1\x00"))
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(code))
	return hex.EncodeToString(h.Sum(nil))
}
