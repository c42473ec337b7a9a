package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Real mail: the account links sent through a real SMTP server that the
// test starts, Debian's python3-aiosmtpd, which keeps what it receives in
// a maildir (its Mailbox handler). CI installs it (.ci/run); elsewhere the
// tests skip without it.

// smtpServer is a running aiosmtpd.
type smtpServer struct {
	addr    string
	maildir string
	roots   *x509.CertPool // with STARTTLS: trusts the server's certificate
}

// aiosmtpdPython returns the Python that has aiosmtpd, or skips the test
// (fails it with CI=true, so that CI cannot pass by skipping).
func aiosmtpdPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import aiosmtpd").Run() == nil {
			return py
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("python3-aiosmtpd is not installed, and CI=true: apt-get install python3-aiosmtpd (.ci/run does)")
	}
	t.Skip("python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd); skipping the SMTP test")
	return ""
}

// startSMTP starts aiosmtpd on a free loopback port, requiring STARTTLS
// with a certificate of the test's own when starttls is set; it is
// stopped when the test ends.
func startSMTP(t *testing.T, starttls bool) *smtpServer {
	t.Helper()
	py := aiosmtpdPython(t)
	dir := t.TempDir()
	s := &smtpServer{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), maildir: filepath.Join(dir, "maildir")}
	args := []string{"-m", "aiosmtpd", "-n", "-l", s.addr}
	if starttls {
		cert, key := selfSignedCert(t, dir)
		s.roots = x509.NewCertPool()
		pemCert, err := os.ReadFile(cert)
		require.NoError(t, err)
		require.True(t, s.roots.AppendCertsFromPEM(pemCert))
		args = append(args, "--tlscert", cert, "--tlskey", key) // and require_starttls, aiosmtpd's default
	}
	args = append(args, "-c", "aiosmtpd.handlers.Mailbox", s.maildir)
	var out syncBuffer
	cmd := exec.Command(py, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	require.Eventually(t, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	}, 30*time.Second, 20*time.Millisecond)
	select {
	case <-exited:
		t.Fatalf("aiosmtpd exited: %s", out.String())
	default:
	}
	return s
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "aiosmtpd test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600))
	return certFile, keyFile
}

// delivered is one message from the maildir.
type delivered struct {
	header mail.Header
	body   string
}

// messages returns what the server has received so far.
func (s *smtpServer) messages(t *testing.T) []delivered {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.maildir, "new"))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var out []delivered
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(s.maildir, "new", e.Name()))
		require.NoError(t, err)
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		require.NoError(t, err, string(raw))
		body, err := io.ReadAll(m.Body)
		require.NoError(t, err)
		out = append(out, delivered{header: m.Header, body: string(body)})
	}
	return out
}

// waitMessage waits for the one message to to with subject.
func (s *smtpServer) waitMessage(t *testing.T, to, subject string) delivered {
	t.Helper()
	var found []delivered
	require.Eventually(t, func() bool {
		found = found[:0]
		for _, m := range s.messages(t) {
			if m.header.Get("Subject") == subject && strings.Contains(m.header.Get("To"), to) {
				found = append(found, m)
			}
		}
		return len(found) > 0
	}, 30*time.Second, 20*time.Millisecond, "no %q message to %s", subject, to)
	require.Len(t, found, 1)
	return found[0]
}

// TestSMTPSender: one message through a real server, with STARTTLS when
// the server offers it; an untrusted certificate stops the session before
// anything is sent, rather than falling back to plain text.
func TestSMTPSender(t *testing.T) {
	t.Parallel()
	const to, link = "jo@example.com", "https://accounts.example.test/confirm?token=k1.abc.def"
	tests := []struct {
		name     string
		starttls bool
		trust    bool
		to       string
		wantErr  string // "": delivered
	}{
		{"plain", false, false, to, ""},
		{"STARTTLS required by the server", true, true, to, ""},
		{"STARTTLS with an untrusted certificate", true, false, to, "smtp STARTTLS"},
		{"a header in the address", false, false, "jo@example.com\r\nBcc: eve@example.com", "cannot be mailed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startSMTP(t, tt.starttls)
			o := mailOptions{smtp: srv.addr, publicURL: "https://accounts.example.test"}
			require.NoError(t, o.check(func(string) string { return "" }, false))
			var logs syncBuffer
			s := newSMTPSender(o, slog.New(slog.NewTextHandler(&logs, nil)))
			if tt.trust {
				s.tls = &tls.Config{ServerName: "127.0.0.1", RootCAs: srv.roots, MinVersion: tls.VersionTLS12}
			}
			s.send(t.Context(), "confirmation", tt.to, link)
			if tt.wantErr != "" {
				assert.Contains(t, logs.String(), tt.wantErr)
				assert.NotContains(t, logs.String(), "jo@example.com", "the log names no address")
				assert.NotContains(t, logs.String(), "token=", "the log has no link")
				assert.Empty(t, srv.messages(t), "nothing delivered")
				return
			}
			assert.Empty(t, logs.String())
			m := srv.waitMessage(t, to, "Confirm your account")
			assert.Equal(t, "<jo@example.com>", m.header.Get("To"))
			assert.Equal(t, "jo@example.com", m.header.Get("X-RcptTo"), "the envelope recipient")
			assert.Equal(t, "<noreply@accounts.example.test>", m.header.Get("From"))
			assert.Equal(t, "text/plain; charset=utf-8", m.header.Get("Content-Type"))
			assert.Contains(t, m.body, "\n"+link+"\n") // the maildir keeps LF line ends
		})
	}
}

// TestSMTPAccountLinks: with -smtp and -public-url the server mails the
// account links to the stored address, through a real SMTP server, as
// links under the public URL (not the listen address); following them
// (the page, then the POST of the token) confirms the account and resets
// the password; and no link is ever logged. With -db, -smtp alone turns
// the account-link routes on.
func TestSMTPAccountLinks(t *testing.T) {
	t.Parallel()
	const public = "https://accounts.example.test/app"
	modes := []struct {
		name string
		args func(t *testing.T) []string
	}{
		{"memory", func(*testing.T) []string { return nil }},
		{"sqlite", func(t *testing.T) []string {
			return []string{"-db", "sqlite:" + filepath.Join(t.TempDir(), "users.db"), "-migrate"}
		}},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			srv := startSMTP(t, false)
			s := startAPI(t, append(mode.args(t), "-smtp", srv.addr, "-public-url", public+"/")...)
			const typed, stored, pw, newPW = "Ivy.Mail@Example.COM", "ivy.mail@example.com", "pw-ivy-1", "new-pw-ivy-2"
			linkRE := func(path string) *regexp.Regexp {
				return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(public+path+"?token=") + `([A-Za-z0-9_.\-]+)\r?$`)
			}
			steps := []struct {
				name, subject, path string
				request             func(t *testing.T)
				follow              func(t *testing.T, token string)
			}{
				{"confirmation", "Confirm your account", "/confirm",
					func(t *testing.T) {
						r := s.do(t, request{method: "POST", path: "/register", body: map[string]string{"email": typed, "password": pw}})
						require.Equal(t, 202, r.status, r.raw)
						require.Equal(t, 403, tokenStatus(t, s, stored, pw), "unconfirmed")
					},
					func(t *testing.T, token string) {
						r := s.do(t, request{method: "POST", path: "/confirm", body: map[string]string{"token": token}})
						require.Equal(t, 204, r.status, r.raw)
						assert.Equal(t, 200, tokenStatus(t, s, stored, pw), "confirmed")
					}},
				{"password reset", "Reset your password", "/password-reset",
					func(t *testing.T) {
						r := s.do(t, request{method: "POST", path: "/password-reset", body: map[string]string{"email": typed}})
						require.Equal(t, 202, r.status, r.raw)
					},
					func(t *testing.T, token string) {
						r := s.do(t, request{method: "POST", path: "/password-reset/confirm", body: map[string]string{"token": token, "password": newPW}})
						require.Equal(t, 204, r.status, r.raw)
						assert.Equal(t, 200, tokenStatus(t, s, stored, newPW), "the new password")
						assert.Equal(t, 401, tokenStatus(t, s, stored, pw), "not the old one")
					}},
			}
			for _, st := range steps { // in order: the reset needs a confirmed account
				if !t.Run(st.name, func(t *testing.T) {
					st.request(t)
					s.flushMail(t)
					m := srv.waitMessage(t, stored, st.subject)
					to, err := mail.ParseAddress(m.header.Get("To"))
					require.NoError(t, err)
					assert.Equal(t, stored, to.Address, "the stored address, not the one typed")
					assert.Equal(t, stored, m.header.Get("X-RcptTo"), "the envelope recipient")
					match := linkRE(st.path).FindStringSubmatch(m.body)
					require.NotNil(t, match, "no %s%s link in:\n%s", public, st.path, m.body)
					assert.NotContains(t, m.body, s.base, "the listen address is not the public one")
					// The link opens the page (on the listener: the public
					// host is where a proxy would forward it)...
					resp, _ := get(t, "GET", s.base+st.path+"?token="+match[1])
					assert.Equal(t, 200, resp.StatusCode)
					// ...whose button POSTs the token.
					st.follow(t, match[1])
					logs := s.logs.String()
					assert.NotContains(t, logs, match[1], "the token is never logged")
					assert.NotContains(t, logs, "?token=")
					assert.NotContains(t, logs, "link for", "no mailer line (the auth log names logins, by design)")
				}) {
					return
				}
			}
			assert.Contains(t, s.logs.String(), "account links are sent by e-mail")
			assert.NotContains(t, s.logs.String(), "account-link routes are off")
		})
	}
}

// TestSMTPPublicURLWithoutSMTP: -public-url alone sets the base of the
// links that the demo logs.
func TestSMTPPublicURLWithoutSMTP(t *testing.T) {
	t.Parallel()
	s := startAPI(t, "-public-url", "https://demo.example.test/base")
	link := registered(t, s, "kim@example.com", "pw-kim-1")
	assert.True(t, strings.HasPrefix(link, "https://demo.example.test/base/confirm?token="), link)
}

// TestSMTPOptions: -smtp needs -public-url and excludes -log-links; the
// public URL is an http(s) base and nothing more; the credentials come
// from the environment only.
func TestSMTPOptions(t *testing.T) {
	t.Parallel()
	const pub = "https://accounts.example.test"
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		want    mailOptions
	}{
		{name: "none"},
		{name: "smtp", args: []string{"-smtp", "mail.example.test:587", "-public-url", pub + "/"},
			want: mailOptions{smtp: "mail.example.test:587", publicURL: pub, from: "<noreply@accounts.example.test>"}},
		{name: "smtp with a path, sender and credentials", args: []string{"-smtp", "mail.example.test:587", "-public-url", pub + "/app", "-smtp-from", "Accounts <accounts@example.test>"},
			env:  map[string]string{"HTTPAUTH_SMTP_USERNAME": "mailer", "HTTPAUTH_SMTP_PASSWORD": "s3cret"},
			want: mailOptions{smtp: "mail.example.test:587", publicURL: pub + "/app", from: `"Accounts" <accounts@example.test>`, username: "mailer", password: "s3cret"}},
		{name: "public URL alone", args: []string{"-public-url", "http://localhost:8080"}, want: mailOptions{publicURL: "http://localhost:8080"}},
		{name: "smtp without public URL", args: []string{"-smtp", "mail.example.test:25"}, wantErr: "-public-url"},
		{name: "smtp and -log-links", args: []string{"-smtp", "mail.example.test:25", "-public-url", pub, "-log-links"}, wantErr: "-log-links"},
		{name: "smtp without a port", args: []string{"-smtp", "mail.example.test", "-public-url", pub}, wantErr: "host:port"},
		{name: "sender without smtp", args: []string{"-smtp-from", "a@example.test"}, wantErr: "-smtp-from needs -smtp"},
		{name: "bad sender", args: []string{"-smtp", "m:25", "-public-url", pub, "-smtp-from", "not an address"}, wantErr: "-smtp-from"},
		{name: "password on the command line", args: []string{"-smtp", "m:25", "-public-url", pub, "-smtp-password", "x"}, wantErr: "not defined"},
		{name: "username without password", args: []string{"-smtp", "m:25", "-public-url", pub}, env: map[string]string{"HTTPAUTH_SMTP_USERNAME": "u"}, wantErr: "go together"},
		{name: "public URL not http", args: []string{"-public-url", "ftp://example.test"}, wantErr: "https://"},
		{name: "public URL relative", args: []string{"-public-url", "/app"}, wantErr: "https://"},
		{name: "public URL without host", args: []string{"-public-url", "https:///app"}, wantErr: "no host"},
		{name: "public URL with a query", args: []string{"-public-url", pub + "/?a=b"}, wantErr: "only a scheme"},
		{name: "public URL with a user", args: []string{"-public-url", "https://u:p@example.test"}, wantErr: "only a scheme"},
		{name: "public URL with a fragment", args: []string{"-public-url", pub + "#x"}, wantErr: "only a scheme"},
		{name: "public URL not ASCII", args: []string{"-public-url", "https://bücher.example"}, wantErr: "ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "HTTPAUTH_SECRET" {
					return testSecret
				}
				return tt.env[k]
			}
			o, _, err := parseOptions(tt.args, getenv, io.Discard)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, o.mail)
			assert.Equal(t, tt.want.smtp != "" || o.db == "", o.linksDelivered())
		})
	}
}
