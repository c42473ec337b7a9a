package httpauth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// PasswordHasher hashes new passwords and verifies stored hashes.
// Implementations must be safe for concurrent use.
type PasswordHasher interface {
	// Hash returns the encoded hash of password for storage.
	Hash(ctx context.Context, password string) (string, error)

	// Verify reports whether password matches hash. A hash it cannot trust
	// (unknown scheme, malformed, parameters out of bounds) is an error
	// wrapping ErrUntrustedHash; it must still cost about one hash, so that
	// such accounts do not stand out by timing.
	Verify(ctx context.Context, hash, password string) (bool, error)

	// NeedsRehash reports whether hash is below the current policy and
	// should be replaced by Hash of the same password at the next login.
	NeedsRehash(ctx context.Context, hash string) bool
}

// argon2idHasher hashes with argon2id into PHC strings
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash) and verifies those, bcrypt
// hashes ($2a$, $2b$, $2y$) and the foreign formats of foreignhash.go. A
// zero field takes the default in its comment.
type argon2idHasher struct {
	// Memory in KiB for new hashes. Default 19456 (19 MiB, OWASP).
	Memory uint32
	// Time is the number of passes for new hashes. Default 2 (OWASP).
	Time uint32
	// Threads is the parallelism for new hashes. Default 1 (OWASP).
	Threads uint8

	// MaxMemory bounds the memory a stored hash may ask for, in KiB.
	// Default 262144 (256 MiB). Larger hashes are untrusted.
	MaxMemory uint32
	// MaxTime bounds a stored hash's passes. Default 16.
	MaxTime uint32
	// MinBcryptCost is the lowest bcrypt cost accepted. Default 10.
	MinBcryptCost int
	// MaxBcryptCost is the highest bcrypt cost accepted. Default 16.
	MaxBcryptCost int
	// MaxPBKDF2Iterations bounds a stored PBKDF2 hash's iterations.
	// Default 10,000,000.
	MaxPBKDF2Iterations int

	onBurn func() // test hook: runs on every burn
}

// Defaults for argon2idHasher, from the OWASP Password Storage Cheat Sheet.
const (
	defaultArgon2Memory  = 19456
	defaultArgon2Time    = 2
	defaultArgon2Threads = 1

	argon2SaltLen = 16
	argon2KeyLen  = 32
	bcryptMaxLen  = 72
)

// DefaultHasher returns an argon2id hasher at OWASP's parameters
// (m=19 MiB, t=2, p=1) that also verifies bcrypt hashes of cost 10 to 16
// and the hashes of Werkzeug, Django and passlib (see CheckPasswordHash),
// so that users imported with their hashes log in with their passwords.
// Every hash but a policy argon2id one NeedsRehash: the authenticator
// replaces it with argon2id at the next successful login.
func DefaultHasher() PasswordHasher { return defaultHasher() }

func defaultHasher() *argon2idHasher {
	return (&argon2idHasher{}).withDefaults()
}

func (h *argon2idHasher) withDefaults() *argon2idHasher {
	c := *h
	if c.Memory == 0 {
		c.Memory = defaultArgon2Memory
	}
	if c.Time == 0 {
		c.Time = defaultArgon2Time
	}
	if c.Threads == 0 {
		c.Threads = defaultArgon2Threads
	}
	if c.MaxMemory == 0 {
		c.MaxMemory = 256 << 10
	}
	if c.MaxTime == 0 {
		c.MaxTime = 16
	}
	if c.MinBcryptCost == 0 {
		c.MinBcryptCost = 10
	}
	if c.MaxBcryptCost == 0 {
		c.MaxBcryptCost = 16
	}
	if c.MaxPBKDF2Iterations == 0 {
		c.MaxPBKDF2Iterations = 10_000_000
	}
	return &c
}

// Hash implements PasswordHasher.
func (h *argon2idHasher) Hash(ctx context.Context, password string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	c := h.withDefaults()
	salt := make([]byte, argon2SaltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go 1.24+)
	key := argon2.IDKey([]byte(password), salt, c.Time, c.Memory, c.Threads, argon2KeyLen)
	return encodeArgon2(argon2Params{c.Memory, c.Time, c.Threads}, salt, key), nil
}

// Verify implements PasswordHasher.
func (h *argon2idHasher) Verify(ctx context.Context, hash, password string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	c := h.withDefaults()
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		p, salt, key, err := c.decodeArgon2(hash)
		if err != nil {
			c.burn(password)
			return false, err
		}
		got := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(len(key)))
		return subtle.ConstantTimeCompare(got, key) == 1, nil
	case isBcrypt(hash):
		return c.verifyBcrypt(hash, password, password)
	default:
		// Hashes made elsewhere (Werkzeug, Django, passlib, PHC argon2i),
		// or a burnt hash and ErrUntrustedHash: foreignhash.go.
		return c.verifyForeign(hash, password)
	}
}

// verifyBcrypt verifies a bcrypt hash of pw; password is what the user
// typed (pw itself, or its pre-hash for Django's bcrypt_sha256).
func (h *argon2idHasher) verifyBcrypt(hash, pw, password string) (bool, error) {
	c := h
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil || len(hash) != 60 || cost < c.MinBcryptCost || cost > c.MaxBcryptCost {
		c.burn(password)
		return false, fmt.Errorf("%w: bcrypt cost outside %d..%d", ErrUntrustedHash, c.MinBcryptCost, c.MaxBcryptCost)
	}
	long := len(pw) > bcryptMaxLen
	if long {
		// bcrypt would compare only the first 72 bytes: hash them
		// for the time, but never accept.
		pw = pw[:bcryptMaxLen]
	}
	err = bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw))
	switch {
	case err == nil && !long:
		return true, nil
	case err == nil, errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	}
	// A hash bcrypt cannot parse (a bad salt character, say) fails
	// before hashing: spend the hash here, so it does not stand out.
	c.burn(password)
	return false, fmt.Errorf("%w: %v", ErrUntrustedHash, err)
}

// burn spends one policy hash, so an untrusted stored hash costs the same
// time as a real one.
func (h *argon2idHasher) burn(password string) {
	if h.onBurn != nil {
		h.onBurn()
	}
	var salt [argon2SaltLen]byte
	argon2.IDKey([]byte(password), salt[:], h.Time, h.Memory, h.Threads, argon2KeyLen)
}

// NeedsRehash implements PasswordHasher: bcrypt hashes, hashes made
// elsewhere (foreignhash.go) and argon2id hashes weaker than the policy
// need a rehash; untrusted hashes do not (they never verify).
func (h *argon2idHasher) NeedsRehash(_ context.Context, hash string) bool {
	c := h.withDefaults()
	if isBcrypt(hash) {
		return true
	}
	if isForeign(hash) {
		_, err := c.parseForeign(hash)
		return err == nil
	}
	p, _, _, err := c.decodeArgon2(hash)
	if err != nil {
		return false
	}
	return p.memory < c.Memory || p.time < c.Time
}

func isBcrypt(hash string) bool {
	return strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$")
}

type argon2Params struct {
	memory  uint32
	time    uint32
	threads uint8
}

var phcB64 = base64.RawStdEncoding.Strict()

func encodeArgon2(p argon2Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, phcB64.EncodeToString(salt), phcB64.EncodeToString(key))
}

// decodeArgon2 parses a PHC argon2id string strictly: one spelling per
// hash, parameters in the fixed order, and bounds on every cost.
func (h *argon2idHasher) decodeArgon2(hash string) (argon2Params, []byte, []byte, error) {
	return h.decodeArgon2Variant(hash, "argon2id")
}

// decodeArgon2Variant is decodeArgon2 for variant argon2id or argon2i.
func (h *argon2idHasher) decodeArgon2Variant(hash, variant string) (argon2Params, []byte, []byte, error) {
	var p argon2Params
	bad := func(why string) (argon2Params, []byte, []byte, error) {
		return p, nil, nil, fmt.Errorf("%w: %s: %s", ErrUntrustedHash, variant, why)
	}
	if len(hash) > 256 {
		return bad("too long")
	}
	if strings.ContainsAny(hash, "\r\n") { // base64 would skip them
		return bad("malformed")
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != variant {
		return bad("malformed")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported version")
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return bad("malformed parameters")
	}
	m, ok1 := phcUint(params[0], "m=")
	t, ok2 := phcUint(params[1], "t=")
	th, ok3 := phcUint(params[2], "p=")
	if !ok1 || !ok2 || !ok3 {
		return bad("malformed parameters")
	}
	if th < 1 || th > 16 {
		return bad("parallelism out of bounds")
	}
	if t < 1 || t > uint64(h.MaxTime) {
		return bad("time out of bounds")
	}
	if m < 8*th || m > uint64(h.MaxMemory) {
		return bad("memory out of bounds")
	}
	salt, err := phcB64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return bad("bad salt")
	}
	key, err := phcB64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return bad("bad hash")
	}
	p = argon2Params{memory: uint32(m), time: uint32(t), threads: uint8(th)}
	return p, salt, key, nil
}

// phcUint parses prefix followed by a canonical decimal (no sign, no
// leading zeros) of at most 10 digits.
func phcUint(s, prefix string) (uint64, bool) {
	d, ok := strings.CutPrefix(s, prefix)
	if !ok || d == "" || len(d) > 10 || (len(d) > 1 && d[0] == '0') {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(d[i]-'0')
	}
	return n, true
}
