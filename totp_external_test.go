package httpauth

// The TOTP codes and the otpauth:// URI checked against implementations
// written elsewhere: Debian's oathtool and Python's pyotp. Each test skips
// when its tool is missing (.ci/run installs both).

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// needTool returns the path of a tool, or skips saying how to install it.
func needTool(t *testing.T, path, install string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err != nil {
		t.Skipf("%s not found: %s", path, install)
	}
	return p
}

// pyotp runs a Python snippet with /usr/bin/python3 (Debian's, which has
// python3-pyotp), or skips.
func pyotp(t *testing.T, script string, args ...string) string {
	t.Helper()
	py := needTool(t, "/usr/bin/python3", "apt-get install -y python3 python3-pyotp")
	if err := exec.Command(py, "-c", "import pyotp").Run(); err != nil {
		t.Skip("pyotp not importable by /usr/bin/python3: apt-get install -y python3-pyotp")
	}
	out, err := exec.Command(py, append([]string{"-c", script}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// externalTimes are the instants compared: step boundaries, the RFC's
// own times, and now.
var externalTimes = []time.Time{
	time.Unix(59, 0), time.Unix(1111111109, 0), time.Unix(1234567890, 0), time.Unix(2000000000, 0),
	time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 29, 0, time.UTC),
	time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC),
}

func TestTOTPAgainstOathtool(t *testing.T) {
	t.Parallel()
	oath := needTool(t, "oathtool", "apt-get install -y oathtool")
	for i := range 3 {
		secret := newTOTPSecret()
		b32 := totpB32.EncodeToString(secret)
		for _, at := range externalTimes {
			t.Run(fmt.Sprintf("%d/%d", i, at.Unix()), func(t *testing.T) {
				out, err := exec.Command(oath, "--totp", "-b", "--now", at.UTC().Format("2006-01-02 15:04:05 UTC"), b32).CombinedOutput()
				if err != nil {
					t.Fatalf("oathtool: %v: %s", err, out)
				}
				want := strings.TrimSpace(string(out))
				got := hotp(secret, uint64(totpStep(at)))
				if string(got[:]) != want {
					t.Errorf("code at %v = %s, oathtool says %s", at, got[:], want)
				}
				var code [totpDigits]byte
				copy(code[:], want)
				if step, ok := matchTOTP(secret, code, at, 0); !ok || step != totpStep(at) {
					t.Errorf("oathtool's code %s not accepted at %v", want, at)
				}
			})
		}
	}
}

func TestTOTPAgainstPyotp(t *testing.T) {
	t.Parallel()
	secret := newTOTPSecret()
	b32 := totpB32.EncodeToString(secret)
	var stamps []string
	for _, at := range externalTimes {
		stamps = append(stamps, fmt.Sprint(at.Unix()))
	}
	out := pyotp(t, `import pyotp, sys
t = pyotp.TOTP(sys.argv[1])
print(" ".join(t.at(int(s)) for s in sys.argv[2:]))`, append([]string{b32}, stamps...)...)
	for i, want := range strings.Fields(out) {
		got := hotp(secret, uint64(totpStep(externalTimes[i])))
		if string(got[:]) != want {
			t.Errorf("code at %v = %s, pyotp says %s", externalTimes[i], got[:], want)
		}
	}
}

// TestTOTPURIAgainstPyotp: pyotp parses the URI as apps do, and finds the
// secret, the issuer and the login, whatever characters they hold.
func TestTOTPURIAgainstPyotp(t *testing.T) {
	t.Parallel()
	// pyotp unquotes the whole URI before splitting it (so it cannot
	// read a login holding "&", "?" or "#", which the URI encodes
	// correctly; TestTOTPURI checks those with Go's parser): the cases are
	// the logins and realms hosts use.
	for _, tc := range []struct{ realm, issuer, login string }{
		{"api", "api", "alice"},
		{"httpauth example", "httpauth example", "alice@example.com"},
		{"Ops: prod", "Ops prod", "bob+tag@example.com"},
		{"Çà et là", "Çà et là", "zoë@example.com"},
	} {
		t.Run(tc.realm, func(t *testing.T) {
			t.Parallel()
			secret := newTOTPSecret()
			uri := totpURI(tc.realm, tc.login, secret)
			out := pyotp(t, `import pyotp, sys, json
t = pyotp.parse_uri(sys.argv[1])
print(json.dumps([t.secret, t.issuer, t.name, t.digits, t.interval, t.digest().name, t.now()]))`, uri)
			want := fmt.Sprintf(`[%q, %q, %q, 6, 30, "sha1", `, totpB32.EncodeToString(secret), tc.issuer, tc.login)
			if !strings.HasPrefix(asciiJSON(out), asciiJSON(want)) {
				t.Errorf("pyotp parsed %s as %s, want %s…", uri, out, want)
			}
		})
	}
}

// asciiJSON undoes Python's \uXXXX escapes, so both sides compare as UTF-8.
func asciiJSON(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
			var r rune
			if _, err := fmt.Sscanf(s[i+2:i+6], "%04x", &r); err == nil {
				b.WriteRune(r)
				i += 5
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
