package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tfReply is an answer of the second factor's routes.
type tfReply struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// tfCall sends a request with an Authorization value, an X-OTP value and
// a JSON body, each optional.
func tfCall(t *testing.T, method, url, authz, otp, body string) tfReply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if otp != "" {
		req.Header.Set("X-OTP", otp)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := tfReply{status: resp.StatusCode, header: resp.Header, raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &r.body), string(raw))
	}
	return r
}

// oathtool is Debian's oathtool: the code of a base32 secret at t. The
// test skips without it.
func oathtool(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	p, err := exec.LookPath("oathtool")
	if err != nil {
		t.Skip("oathtool not found: apt-get install -y oathtool")
	}
	out, err := exec.Command(p, "--totp", "-b", "--now", at.UTC().Format("2006-01-02 15:04:05 UTC"), secret).CombinedOutput()
	require.NoError(t, err, string(out))
	return strings.TrimSpace(string(out))
}

// pyotpRun runs a snippet with Debian's python3 and pyotp (not the pyenv
// python3 on PATH); the test skips without them.
func pyotpRun(t *testing.T, script string, args ...string) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import pyotp").Run(); err != nil {
		t.Skip("pyotp not importable by /usr/bin/python3: apt-get install -y python3-pyotp")
	}
	out, err := exec.Command(py, append([]string{"-c", script}, args...)...).CombinedOutput()
	require.NoError(t, err, string(out))
	return strings.TrimSpace(string(out))
}

// zbarimg decodes a QR code PNG with Debian's zbar-tools; the test skips
// without it.
func zbarimg(t *testing.T, png []byte) string {
	t.Helper()
	p, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Skip("zbarimg not found: apt-get install -y zbar-tools")
	}
	f := filepath.Join(t.TempDir(), "qr.png")
	require.NoError(t, os.WriteFile(f, png, 0o600))
	out, err := exec.Command(p, "--raw", "-q", f).Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

// step is the start of the current 30-second TOTP step, so that the codes
// of a test are taken against one clock reading.
func step() time.Time { return time.Now().Truncate(30 * time.Second) }

// TestTwoFactorContract drives the HTTP contract through the
// example in memory, with codes from oathtool and pyotp and the QR code
// read back by zbarimg.
func TestTwoFactorContract(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, time.Hour)
	const login, pw = "alice@example.com", "wonderland-42"
	alice := basic(login, pw)
	base := srv.URL + "/api/v1/account/2fa"

	r := tfCall(t, http.MethodGet, base+"/qr.png", alice, "", "")
	assert.Equal(t, 404, r.status, "no QR code before a start")

	first := tfCall(t, http.MethodPost, base, alice, "", "")
	require.Equal(t, 200, first.status, string(first.raw))
	r = tfCall(t, http.MethodPost, base, alice, "", "")
	require.Equal(t, 200, r.status, string(r.raw))
	secret, uri := r.body["secret"].(string), r.body["otpauth_uri"].(string)
	assert.NotEqual(t, first.body["secret"], secret, "a second start replaces the pending secret")
	assert.Equal(t, "otpauth://totp/httpauth%20example:alice@example.com?secret="+secret+"&issuer=httpauth%20example&algorithm=SHA1&digits=6&period=30", uri)
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))

	t.Run("QR code", func(t *testing.T) {
		r := tfCall(t, http.MethodGet, base+"/qr.png", alice, "", "")
		require.Equal(t, 200, r.status)
		assert.Equal(t, "image/png", r.header.Get("Content-Type"))
		assert.True(t, bytes.HasPrefix(r.raw, []byte("\x89PNG\r\n\x1a\n")))
		assert.Equal(t, uri, zbarimg(t, r.raw))
	})
	t.Run("pyotp reads the URI", func(t *testing.T) {
		out := pyotpRun(t, `import pyotp, sys
t = pyotp.parse_uri(sys.argv[1])
print(t.secret, t.issuer, t.name, t.digits, t.interval)`, uri)
		assert.Equal(t, secret+" httpauth example alice@example.com 6 30", out)
	})

	now := step()
	r = tfCall(t, http.MethodPost, base+"/confirm", alice, "", `{"code":"000000"}`)
	if oathtool(t, secret, now) == "000000" {
		r = tfCall(t, http.MethodPost, base+"/confirm", alice, "", `{"code":"999999"}`)
	}
	assert.Equal(t, 400, r.status)
	assert.Equal(t, "invalid_code", r.body["error"])
	assert.Equal(t, 200, tfCall(t, http.MethodGet, srv.URL+"/api/v1/me", alice, "", "").status, "still off")

	r = tfCall(t, http.MethodPost, base+"/confirm", alice, "", `{"code":"`+oathtool(t, secret, now)+`"}`)
	require.Equal(t, 200, r.status, string(r.raw))
	var recovery []string
	for _, c := range r.body["recovery_codes"].([]any) {
		recovery = append(recovery, c.(string))
	}
	require.Len(t, recovery, 10)

	r = tfCall(t, http.MethodGet, srv.URL+"/api/v1/me", alice, "", "")
	assert.Equal(t, 401, r.status)
	assert.Equal(t, "required", r.header.Get("X-OTP"))

	// The next step's code, from pyotp (an app a little ahead).
	next := pyotpRun(t, "import pyotp, sys; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))", secret, itoaTime(now.Add(30*time.Second)))
	tokens := srv.URL + "/api/v1/tokens/"
	r = tfCall(t, http.MethodPost, tokens, alice, next, "")
	require.Equal(t, 200, r.status, string(r.raw))
	token, _ := r.body["token"].(string)
	assert.NotEmpty(t, token)
	assert.Equal(t, float64(3600), r.body["expiration"])
	assert.Equal(t, 200, tfCall(t, http.MethodGet, srv.URL+"/api/v1/me", "Bearer "+token, "", "").status)
	assert.Equal(t, 401, tfCall(t, http.MethodPost, tokens, alice, next, "").status, "the same code again")
	wrong := "111111"
	if wrong == next {
		wrong = "222222"
	}
	r = tfCall(t, http.MethodPost, tokens, alice, wrong, "")
	assert.Equal(t, 401, r.status, "a wrong code")
	assert.Empty(t, r.header.Get("X-OTP"), "a wrong code looks like a wrong password")
	assert.Equal(t, 200, tfCall(t, http.MethodPost, tokens, alice, recovery[0], "").status, "a recovery code")
	assert.Equal(t, 401, tfCall(t, http.MethodPost, tokens, alice, recovery[0], "").status, "a recovery code twice")

	r = tfCall(t, http.MethodPost, base+"/recovery-codes", "Bearer "+token, "", "")
	assert.Equal(t, 401, r.status, "a token cannot regenerate the codes")
	r = tfCall(t, http.MethodPost, base+"/recovery-codes", alice, recovery[1], "")
	require.Equal(t, 200, r.status, string(r.raw))
	fresh := r.body["recovery_codes"].([]any)
	require.Len(t, fresh, 10)
	assert.Equal(t, 401, tfCall(t, http.MethodPost, tokens, alice, recovery[2], "").status, "the old codes stop working")

	assert.Equal(t, 401, tfCall(t, http.MethodDelete, base, alice, "", "").status, "the password alone cannot turn it off")
	r = tfCall(t, http.MethodDelete, base, alice, fresh[0].(string), "")
	require.Equal(t, 204, r.status, string(r.raw))
	assert.Equal(t, 200, tfCall(t, http.MethodGet, srv.URL+"/api/v1/me", alice, "", "").status, "the password alone works again")
}

// TestTwoFactorTOTPChanges: regenerating recovery codes and turning the
// factor off with TOTP codes (not recovery codes); a token cannot do
// either, nor can an API key start an enrolment.
func TestTwoFactorTOTPChanges(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, time.Hour)
	carol := basic("carol@example.com", "pässwörd-ü42")
	base := srv.URL + "/api/v1/account/2fa"
	tok := tfCall(t, http.MethodPost, srv.URL+"/api/v1/tokens/", carol, "", "").body["token"].(string)

	key := tfCall(t, http.MethodPost, srv.URL+"/api/v1/keys", "Bearer "+tok, "", `{"name":"ci","roles":["user"]}`)
	require.Equal(t, 201, key.status, string(key.raw))
	assert.Equal(t, 403, tfCall(t, http.MethodPost, base, "Bearer "+key.body["key"].(string), "", "").status, "an API key")

	r := tfCall(t, http.MethodPost, base, "Bearer "+tok, "", "")
	require.Equal(t, 200, r.status, "a token may start")
	secret := r.body["secret"].(string)
	now := step()
	require.Equal(t, 200, tfCall(t, http.MethodPost, base+"/confirm", "Bearer "+tok, "", `{"code":"`+oathtool(t, secret, now)+`"}`).status)
	assert.Equal(t, 200, tfCall(t, http.MethodGet, srv.URL+"/api/v1/me", "Bearer "+tok, "", "").status, "the token minted before works")
	r = tfCall(t, http.MethodDelete, base, "Bearer "+tok, "", "")
	assert.Equal(t, 401, r.status, "a token cannot turn it off")
	assert.Equal(t, "required", r.header.Get("X-OTP"))

	r = tfCall(t, http.MethodPost, base+"/recovery-codes", carol, oathtool(t, secret, now.Add(30*time.Second)), "")
	require.Equal(t, 200, r.status, string(r.raw))
	// The step after next is beyond the drift: wait for it to be the next.
	time.Sleep(time.Until(now.Add(30 * time.Second)))
	r = tfCall(t, http.MethodDelete, base, carol, oathtool(t, secret, now.Add(60*time.Second)), "")
	require.Equal(t, 204, r.status, string(r.raw))
}

func itoaTime(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// TestTwoFactorMultiInstance: two example processes share PostgreSQL
// (sqlstore, in a fresh schema) and Redis. The factor turned on through A
// applies on B at once, and a code used on A is refused on B.
func TestTwoFactorMultiInstance(t *testing.T) {
	m := newMultiEnv(t)
	a := startInstance(t, m.bin, m.args, m.env)
	b := startInstance(t, m.bin, m.args, m.env)
	alice := basic("alice@example.com", "wonderland-42")

	r := tfCall(t, http.MethodPost, a+"/api/v1/account/2fa", alice, "", "")
	require.Equal(t, 200, r.status, string(r.raw))
	secret := r.body["secret"].(string)
	now := step()
	r = tfCall(t, http.MethodPost, b+"/api/v1/account/2fa/confirm", alice, "", `{"code":"`+oathtool(t, secret, now)+`"}`)
	require.Equal(t, 200, r.status, "confirmed on B, started on A: %s", r.raw)
	recovery := r.body["recovery_codes"].([]any)

	r = tfCall(t, http.MethodGet, a+"/api/v1/me", alice, "", "")
	assert.Equal(t, 401, r.status)
	assert.Equal(t, "required", r.header.Get("X-OTP"))

	code := oathtool(t, secret, now.Add(30*time.Second))
	require.Equal(t, 200, tfCall(t, http.MethodPost, a+"/api/v1/tokens/", alice, code, "").status, "the code on A")
	assert.Equal(t, 401, tfCall(t, http.MethodPost, b+"/api/v1/tokens/", alice, code, "").status, "the same code on B")
	rc := recovery[0].(string)
	require.Equal(t, 200, tfCall(t, http.MethodPost, b+"/api/v1/tokens/", alice, rc, "").status, "a recovery code on B")
	assert.Equal(t, 401, tfCall(t, http.MethodPost, a+"/api/v1/tokens/", alice, rc, "").status, "the same recovery code on A")

	require.Equal(t, 204, tfCall(t, http.MethodDelete, b+"/api/v1/account/2fa", alice, recovery[1].(string), "").status)
	assert.Equal(t, 200, tfCall(t, http.MethodGet, a+"/api/v1/me", alice, "", "").status, "off on A too")
}
