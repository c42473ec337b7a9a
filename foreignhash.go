package httpauth

// Password hashes made by other frameworks, verified by DefaultHasher so
// that a host imports its users' hashes verbatim and each user is rehashed
// to argon2id at the next login (NeedsRehash is true for all of them).
//
// Every parser here is strict (one spelling per hash, canonical decimals,
// exact key lengths) and bounds every cost before any hashing, so that no
// stored hash can make one login a denial of service. A hash refused here
// burns one policy hash, like an unknown scheme, and is ErrUntrustedHash.

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/crypto/scrypt"
)

// Bounds on foreign hashes that the hasher's fields do not set.
const (
	maxForeignHashLen = 512
	maxForeignSaltLen = 128 // bytes, as stored or decoded
	minPBKDF2Iter     = 1000
	// werkzeugLegacyPBKDF2Iter is what Werkzeug 2.0 to 2.2 (Debian 12's
	// 2.2.2: DEFAULT_PBKDF2_ITERATIONS in werkzeug/security.py) use for
	// "pbkdf2:sha256" without a count. generate_password_hash always
	// writes the count, so only hand-made hashes lack it; Werkzeug 3
	// would read them with its own current default instead.
	werkzeugLegacyPBKDF2Iter = 260000
)

// CheckPasswordHash reports whether DefaultHasher can verify hash, without
// hashing anything, for hosts importing users: scheme names the format
// (argon2id, argon2i, bcrypt, werkzeug-scrypt, werkzeug-pbkdf2-sha256,
// werkzeug-pbkdf2-sha512, django-pbkdf2-sha256, django-argon2id,
// django-argon2i, django-bcrypt-sha256, django-bcrypt, django-scrypt,
// passlib-pbkdf2-sha256, passlib-pbkdf2-sha512), or is "unknown"; err is
// nil when DefaultHasher would verify the hash, and otherwise wraps
// ErrUntrustedHash and says why (malformed, or a cost outside the bounds
// that keep one login from becoming a denial of service).
func CheckPasswordHash(hash string) (scheme string, err error) {
	return defaultHasher().check(hash)
}

func (h *argon2idHasher) check(hash string) (string, error) {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		_, _, _, err := h.decodeArgon2(hash)
		return "argon2id", err
	case isBcrypt(hash):
		return "bcrypt", h.checkBcrypt(hash)
	}
	f, err := h.parseForeign(hash)
	return f.scheme, err
}

// isForeign reports whether hash names one of the foreign formats (it may
// still be malformed).
func isForeign(hash string) bool {
	return foreignFamily(hash) != ""
}

// foreignFamily picks the parser by prefix.
func foreignFamily(hash string) string {
	switch {
	case strings.HasPrefix(hash, "scrypt:"), strings.HasPrefix(hash, "pbkdf2:"):
		return "werkzeug"
	case strings.HasPrefix(hash, "scrypt$"):
		if strings.Count(hash, "$") == 2 {
			return "werkzeug" // Werkzeug 3's bare "scrypt" method
		}
		return "django-scrypt"
	case strings.HasPrefix(hash, "pbkdf2_sha256$"):
		return "django-pbkdf2"
	case strings.HasPrefix(hash, "argon2$"):
		return "django-argon2"
	case strings.HasPrefix(hash, "bcrypt_sha256$"), strings.HasPrefix(hash, "bcrypt$"):
		return "django-bcrypt"
	case strings.HasPrefix(hash, "$pbkdf2-sha256$"), strings.HasPrefix(hash, "$pbkdf2-sha512$"):
		return "passlib"
	case strings.HasPrefix(hash, "$argon2i$"):
		return "argon2i"
	}
	return ""
}

type foreignKDF int

const (
	kdfPBKDF2 foreignKDF = iota + 1
	kdfScrypt
	kdfArgon2i
	kdfArgon2id
	kdfBcrypt
)

// foreignHash is a parsed, bounded foreign hash.
type foreignHash struct {
	scheme  string
	kdf     foreignKDF
	prf     func() hash.Hash // PBKDF2
	iter    int              // PBKDF2
	n, r, p int              // scrypt
	argon   argon2Params
	salt    []byte
	key     []byte
	// bcrypt: the inner bcrypt hash, and whether the password is first
	// replaced by the hex of its SHA-256 (Django's bcrypt_sha256).
	bcrypt    string
	sha256Hex bool
}

// verifyForeign verifies a foreign hash, or burns one policy hash and
// returns ErrUntrustedHash.
func (h *argon2idHasher) verifyForeign(hash, password string) (bool, error) {
	f, err := h.parseForeign(hash)
	if err != nil {
		h.burn(password)
		return false, err
	}
	if f.kdf == kdfBcrypt {
		pw := password
		if f.sha256Hex {
			sum := sha256.Sum256([]byte(password))
			pw = hex.EncodeToString(sum[:])
		}
		return h.verifyBcrypt(f.bcrypt, pw, password)
	}
	got, err := f.derive(password)
	if err != nil { // unreachable: parameters are checked when parsing
		h.burn(password)
		return false, fmt.Errorf("%w: %s: %v", ErrUntrustedHash, f.scheme, err)
	}
	return subtle.ConstantTimeCompare(got, f.key) == 1, nil
}

func (f *foreignHash) derive(password string) ([]byte, error) {
	pw := []byte(password)
	switch f.kdf {
	case kdfPBKDF2:
		return pbkdf2.Key(pw, f.salt, f.iter, len(f.key), f.prf), nil
	case kdfScrypt:
		return scrypt.Key(pw, f.salt, f.n, f.r, f.p, len(f.key))
	case kdfArgon2i:
		return argon2.Key(pw, f.salt, f.argon.time, f.argon.memory, f.argon.threads, uint32(len(f.key))), nil
	case kdfArgon2id:
		return argon2.IDKey(pw, f.salt, f.argon.time, f.argon.memory, f.argon.threads, uint32(len(f.key))), nil
	}
	return nil, fmt.Errorf("no key derivation for %s", f.scheme)
}

// parseForeign parses and bounds a foreign hash. On error the returned
// hash's scheme still names the format when it was recognised.
func (h *argon2idHasher) parseForeign(hash string) (*foreignHash, error) {
	f := &foreignHash{scheme: "unknown"}
	family := foreignFamily(hash)
	if family == "" {
		return f, fmt.Errorf("%w: unknown scheme", ErrUntrustedHash)
	}
	f.scheme = family
	var err error
	switch {
	case len(hash) > maxForeignHashLen:
		err = errors.New("too long")
	case !utf8.ValidString(hash) || strings.ContainsFunc(hash, isControl):
		err = errors.New("malformed")
	default:
		switch family {
		case "werkzeug":
			err = h.parseWerkzeug(f, hash)
		case "django-scrypt":
			err = h.parseDjangoScrypt(f, hash)
		case "django-pbkdf2":
			err = h.parseDjangoPBKDF2(f, hash)
		case "django-argon2":
			err = h.parseArgon2(f, strings.TrimPrefix(hash, "argon2"), "django-")
		case "django-bcrypt":
			err = h.parseDjangoBcrypt(f, hash)
		case "passlib":
			err = h.parsePasslib(f, hash)
		case "argon2i":
			err = h.parseArgon2(f, hash, "")
		}
	}
	if err != nil && !errors.Is(err, ErrUntrustedHash) {
		err = fmt.Errorf("%w: %s: %v", ErrUntrustedHash, f.scheme, err)
	}
	return f, err
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// parseWerkzeug reads Werkzeug's method$salt$hex: the method is
// scrypt:N:r:p (or scrypt, Werkzeug 3's 2^15, 8, 1) and
// pbkdf2:sha256[:ITER] or pbkdf2:sha512[:ITER]. The salt is used as
// its UTF-8 bytes; the key is the lower-case hex of the derived key,
// 64 bytes for scrypt and the digest size for PBKDF2.
func (h *argon2idHasher) parseWerkzeug(f *foreignHash, hash string) error {
	parts := strings.Split(hash, "$")
	if len(parts) != 3 {
		return errors.New("malformed")
	}
	method, salt, hexKey := parts[0], parts[1], parts[2]
	args := strings.Split(method, ":")
	keyLen := 0
	switch args[0] {
	case "scrypt":
		f.scheme = "werkzeug-scrypt"
		f.kdf = kdfScrypt
		keyLen = 64
		switch len(args) {
		case 1:
			f.n, f.r, f.p = 1<<15, 8, 1
		case 4:
			var ok [3]bool
			f.n, ok[0] = decimal(args[1])
			f.r, ok[1] = decimal(args[2])
			f.p, ok[2] = decimal(args[3])
			if !ok[0] || !ok[1] || !ok[2] {
				return errors.New("malformed parameters")
			}
		default:
			return errors.New("malformed parameters")
		}
		if err := h.checkScrypt(f.n, f.r, f.p); err != nil {
			return err
		}
	case "pbkdf2":
		f.kdf = kdfPBKDF2
		if len(args) != 2 && len(args) != 3 {
			return errors.New("malformed parameters")
		}
		switch args[1] {
		case "sha256":
			f.scheme, f.prf, keyLen = "werkzeug-pbkdf2-sha256", sha256.New, sha256.Size
		case "sha512":
			f.scheme, f.prf, keyLen = "werkzeug-pbkdf2-sha512", sha512.New, sha512.Size
		default:
			return fmt.Errorf("unsupported digest %q", args[1])
		}
		f.iter = werkzeugLegacyPBKDF2Iter
		if len(args) == 3 {
			var ok bool
			if f.iter, ok = decimal(args[2]); !ok {
				return errors.New("malformed iterations")
			}
		}
		if err := h.checkPBKDF2(f.iter); err != nil {
			return err
		}
	default:
		return errors.New("malformed")
	}
	if salt == "" || len(salt) > maxForeignSaltLen {
		return errors.New("bad salt")
	}
	f.salt = []byte(salt)
	if len(hexKey) != 2*keyLen || strings.ToLower(hexKey) != hexKey {
		return errors.New("bad hash")
	}
	key, err := hex.DecodeString(hexKey)
	if err != nil {
		return errors.New("bad hash")
	}
	f.key = key
	return nil
}

// parseDjangoScrypt reads Django's (4.0+) scrypt$N$salt$r$p$b64 with a
// 64-byte key in padded standard base64.
func (h *argon2idHasher) parseDjangoScrypt(f *foreignHash, hash string) error {
	f.scheme, f.kdf = "django-scrypt", kdfScrypt
	parts := strings.Split(hash, "$")
	if len(parts) != 6 {
		return errors.New("malformed")
	}
	var ok [3]bool
	f.n, ok[0] = decimal(parts[1])
	f.r, ok[1] = decimal(parts[3])
	f.p, ok[2] = decimal(parts[4])
	if !ok[0] || !ok[1] || !ok[2] {
		return errors.New("malformed parameters")
	}
	if err := h.checkScrypt(f.n, f.r, f.p); err != nil {
		return err
	}
	return djangoSaltKey(f, parts[2], parts[5], 64)
}

// parseDjangoPBKDF2 reads Django's pbkdf2_sha256$ITER$salt$b64 with a
// 32-byte key in padded standard base64.
func (h *argon2idHasher) parseDjangoPBKDF2(f *foreignHash, hash string) error {
	f.scheme, f.kdf, f.prf = "django-pbkdf2-sha256", kdfPBKDF2, sha256.New
	parts := strings.Split(hash, "$")
	if len(parts) != 4 {
		return errors.New("malformed")
	}
	var ok bool
	if f.iter, ok = decimal(parts[1]); !ok {
		return errors.New("malformed iterations")
	}
	if err := h.checkPBKDF2(f.iter); err != nil {
		return err
	}
	return djangoSaltKey(f, parts[2], parts[3], sha256.Size)
}

var stdB64 = base64.StdEncoding.Strict()

func djangoSaltKey(f *foreignHash, salt, b64Key string, keyLen int) error {
	if salt == "" || len(salt) > maxForeignSaltLen {
		return errors.New("bad salt")
	}
	key, err := stdB64.DecodeString(b64Key)
	if err != nil || len(key) != keyLen {
		return errors.New("bad hash")
	}
	f.salt, f.key = []byte(salt), key
	return nil
}

// parseArgon2 reads a PHC argon2id or argon2i string (Django's after its
// "argon2" prefix), with the bounds of decodeArgon2.
func (h *argon2idHasher) parseArgon2(f *foreignHash, phc, schemePrefix string) error {
	variant, kdf := "argon2id", kdfArgon2id
	if strings.HasPrefix(phc, "$argon2i$") {
		variant, kdf = "argon2i", kdfArgon2i
	}
	f.scheme, f.kdf = schemePrefix+variant, kdf
	p, salt, key, err := h.decodeArgon2Variant(phc, variant)
	if err != nil {
		return err
	}
	f.argon, f.salt, f.key = p, salt, key
	return nil
}

// parseDjangoBcrypt reads Django's bcrypt_sha256$<bcrypt> (bcrypt over
// the lower-case hex of SHA-256(password)) and bcrypt$<bcrypt>.
func (h *argon2idHasher) parseDjangoBcrypt(f *foreignHash, hash string) error {
	f.kdf = kdfBcrypt
	inner, ok := strings.CutPrefix(hash, "bcrypt_sha256$")
	if ok {
		f.scheme, f.sha256Hex = "django-bcrypt-sha256", true
	} else {
		f.scheme = "django-bcrypt"
		inner = strings.TrimPrefix(hash, "bcrypt$")
	}
	if !isBcrypt(inner) {
		return errors.New("malformed")
	}
	if err := h.checkBcrypt(inner); err != nil {
		return err
	}
	f.bcrypt = inner
	return nil
}

// passlibB64 is passlib's "adapted base64": standard base64 with '.'
// for '+' and no padding.
var passlibB64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789./").WithPadding(base64.NoPadding).Strict()

// parsePasslib reads passlib's $pbkdf2-sha256$ITER$salt$key and
// $pbkdf2-sha512$…, salt and key in adapted base64, the key the digest
// size.
func (h *argon2idHasher) parsePasslib(f *foreignHash, hash string) error {
	parts := strings.Split(hash, "$")
	if len(parts) != 5 || parts[0] != "" {
		return errors.New("malformed")
	}
	f.kdf = kdfPBKDF2
	keyLen := sha256.Size
	f.scheme, f.prf = "passlib-pbkdf2-sha256", sha256.New
	if parts[1] == "pbkdf2-sha512" {
		f.scheme, f.prf, keyLen = "passlib-pbkdf2-sha512", sha512.New, sha512.Size
	}
	var ok bool
	if f.iter, ok = decimal(parts[2]); !ok {
		return errors.New("malformed iterations")
	}
	if err := h.checkPBKDF2(f.iter); err != nil {
		return err
	}
	salt, err := passlibB64.DecodeString(parts[3])
	if err != nil || len(salt) == 0 || len(salt) > maxForeignSaltLen {
		return errors.New("bad salt")
	}
	key, err := passlibB64.DecodeString(parts[4])
	if err != nil || len(key) != keyLen {
		return errors.New("bad hash")
	}
	f.salt, f.key = salt, key
	return nil
}

func (h *argon2idHasher) checkPBKDF2(iter int) error {
	if iter < minPBKDF2Iter || iter > h.MaxPBKDF2Iterations {
		return fmt.Errorf("iterations outside %d..%d", minPBKDF2Iter, h.MaxPBKDF2Iterations)
	}
	return nil
}

// checkScrypt bounds scrypt's parameters: N a power of two above 1, and
// 128·N·r·p bytes (the memory of p lanes run at once, and a bound on the
// work of running them one after another, as Go does) at most the
// hasher's MaxMemory.
func (h *argon2idHasher) checkScrypt(n, r, p int) error {
	if n < 2 || n&(n-1) != 0 || r < 1 || p < 1 {
		return errors.New("bad parameters")
	}
	limit := uint64(h.MaxMemory) << 10
	if uint64(n) > limit || uint64(r) > limit || uint64(p) > limit ||
		128*uint64(n)*uint64(r) > limit || 128*uint64(n)*uint64(r)*uint64(p) > limit {
		return fmt.Errorf("memory 128·N·r·p over %d MiB", h.MaxMemory>>10)
	}
	return nil
}

// checkBcrypt is the bound and syntax check of a bcrypt hash, without
// hashing: $2a$/$2b$/$2y$, a two-digit cost within the bounds, and 53
// characters of bcrypt's base64.
func (h *argon2idHasher) checkBcrypt(hash string) error {
	if len(hash) != 60 || !isBcrypt(hash) || hash[6] != '$' {
		return fmt.Errorf("%w: bcrypt: malformed", ErrUntrustedHash)
	}
	cost, ok := decimal(strings.TrimPrefix(hash[4:6], "0"))
	if !ok || cost < h.MinBcryptCost || cost > h.MaxBcryptCost {
		return fmt.Errorf("%w: bcrypt cost outside %d..%d", ErrUntrustedHash, h.MinBcryptCost, h.MaxBcryptCost)
	}
	for _, c := range []byte(hash[7:]) {
		if !strings.ContainsRune("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", rune(c)) {
			return fmt.Errorf("%w: bcrypt: malformed", ErrUntrustedHash)
		}
	}
	return nil
}

// decimal parses a canonical decimal (no sign, no leading zeros) of at
// most 10 digits.
func decimal(s string) (int, bool) {
	n, ok := phcUint(s, "")
	return int(n), ok
}

// declaredMemoryKiB is the memory, in KiB, that verifying hash declares it
// will take, for the hashing budget (hashbudget.go): argon2 (PHC or
// Django) and scrypt (Werkzeug or Django). It does not validate the hash.
func declaredMemoryKiB(hash string) (uint64, bool) {
	hash = strings.TrimPrefix(hash, "argon2") // Django's prefix
	if rest, ok := strings.CutPrefix(hash, "$argon2i$"); ok {
		hash = "$argon2id$" + rest
	}
	if m, ok := argon2DeclaredMemory(hash); ok {
		return m, true
	}
	if !strings.HasPrefix(hash, "scrypt") {
		return 0, false
	}
	h := defaultHasher()
	f, err := h.parseForeign(hash)
	if err != nil {
		return 0, false
	}
	// Go's scrypt holds V (128·r·N bytes) and B (128·r·p bytes).
	return (128*uint64(f.r)*(uint64(f.n)+uint64(f.p)) + 1023) >> 10, true
}
