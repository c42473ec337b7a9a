package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// Real mail: with -smtp host:port the account links are sent by SMTP
// (STARTTLS whenever the server offers it), pointing at -public-url, the
// address users reach the server at, never the listen address. The links
// are then never logged. The SMTP credentials come from the environment
// only (HTTPAUTH_SMTP_USERNAME, HTTPAUTH_SMTP_PASSWORD), never from the
// command line, which other users of the machine can read.

// mailOptions are -smtp, -smtp-from and -public-url, and the SMTP
// credentials from the environment.
type mailOptions struct {
	smtp      string // host:port; "": no e-mail
	from      string // the parsed -smtp-from, or noreply@ the public host
	publicURL string // the links' base, without a trailing slash; "": http://ADDR
	username  string // HTTPAUTH_SMTP_USERNAME
	password  string // HTTPAUTH_SMTP_PASSWORD
}

func (m *mailOptions) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&m.smtp, "smtp", "", "send the account links by e-mail through this SMTP server, host:port (needs -public-url; "+
		"credentials from HTTPAUTH_SMTP_USERNAME and HTTPAUTH_SMTP_PASSWORD); the links are then never logged")
	fs.StringVar(&m.from, "smtp-from", "", "with -smtp, the sender of the account e-mails (default: noreply@ the -public-url host)")
	fs.StringVar(&m.publicURL, "public-url", "", "base URL of the account links, where users reach this server, "+
		"such as https://example.com (default: http:// the listen address); required with -smtp")
}

// check validates the flags and reads the credentials from getenv.
func (m *mailOptions) check(getenv func(string) string, logLinks bool) error {
	var pub *url.URL
	if m.publicURL != "" {
		u, err := parsePublicURL(m.publicURL)
		if err != nil {
			return fmt.Errorf("-public-url: %w", err)
		}
		pub, m.publicURL = u, strings.TrimSuffix(u.String(), "/")
	}
	if m.smtp == "" {
		if m.from != "" {
			return errors.New("-smtp-from needs -smtp")
		}
		return nil
	}
	if host, port, err := net.SplitHostPort(m.smtp); err != nil || host == "" || port == "" {
		return fmt.Errorf("-smtp: want host:port, got %q", m.smtp)
	}
	if pub == nil {
		return errors.New("-smtp needs -public-url, the base of the links that users open (not the listen address)")
	}
	if logLinks {
		return errors.New("-smtp mails the account links; -log-links would also log them: give one")
	}
	if m.from == "" {
		m.from = "noreply@" + pub.Hostname()
	}
	from, err := mail.ParseAddress(m.from)
	if err != nil {
		return fmt.Errorf("-smtp-from: %w", err)
	}
	m.from = from.String()
	m.username, m.password = getenv("HTTPAUTH_SMTP_USERNAME"), getenv("HTTPAUTH_SMTP_PASSWORD")
	if (m.username == "") != (m.password == "") {
		return errors.New("HTTPAUTH_SMTP_USERNAME and HTTPAUTH_SMTP_PASSWORD go together")
	}
	return nil
}

// parsePublicURL accepts an absolute http(s) URL with a host, maybe a
// path, and nothing else (no user, query or fragment), in ASCII.
func parsePublicURL(s string) (*url.URL, error) {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return nil, errors.New("want printable ASCII (punycode for a non-ASCII host)")
		}
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, err
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("want an https:// (or http://) URL, got %q", s)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("no host in %q", s)
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "":
		return nil, fmt.Errorf("want only a scheme, host and path in %q", s)
	}
	return u, nil
}

// configure points the links at -public-url and, with -smtp, has them
// mailed instead of written to the log.
func (m *mailer) configure(o mailOptions, logger *slog.Logger) {
	if o.publicURL != "" {
		base := o.publicURL
		m.base.Store(&base)
		m.public = true
	}
	if o.smtp != "" {
		m.smtp = newSMTPSender(o, logger)
		m.out = io.Discard
		logger.Info("account links are sent by e-mail", slog.String("smtp", o.smtp), slog.String("links", o.publicURL))
	}
}

// smtpSender sends the account e-mails, one SMTP session each.
type smtpSender struct {
	addr, host string // the server, and its name for TLS and PLAIN auth
	from       *mail.Address
	helo       string // the name given in EHLO: the public URL's host
	username   string
	password   string
	logger     *slog.Logger
	tls        *tls.Config // nil: the system's roots for host; tests set their own
}

func newSMTPSender(o mailOptions, logger *slog.Logger) *smtpSender {
	host, _, _ := net.SplitHostPort(o.smtp) // checked by mailOptions.check
	from, _ := mail.ParseAddress(o.from)    // checked by mailOptions.check
	pub, _ := url.Parse(o.publicURL)        // checked by mailOptions.check
	return &smtpSender{addr: o.smtp, host: host, from: from, helo: pub.Hostname(),
		username: o.username, password: o.password, logger: logger}
}

// subjects of the e-mails, by the mailer's kinds.
var subjects = map[string]string{
	"confirmation":   "Confirm your account",
	"password reset": "Reset your password",
}

// send mails link to the address to. It runs on the mail queue's worker,
// after the request was answered; a failure is logged with the stage and
// the server's reply code only: never the address, the link, or a reply's
// text (which may quote the address).
func (s *smtpSender) send(ctx context.Context, kind, to, link string) {
	if err := s.deliver(ctx, to, s.message(kind, to, link)); err != nil {
		s.logger.LogAttrs(ctx, slog.LevelError, kind+" e-mail: not sent", slog.String("error", err.Error()))
	}
}

// smtpError is a failed stage of a session, without the server's text.
type smtpError struct {
	stage string
	code  int // the SMTP reply code; 0: not a reply (network, TLS…)
	err   error
}

func (e *smtpError) Error() string {
	if e.code != 0 {
		return fmt.Sprintf("smtp %s: the server answered %d", e.stage, e.code)
	}
	return fmt.Sprintf("smtp %s: %v", e.stage, e.err)
}

func (e *smtpError) Unwrap() error { return e.err }

func stageError(stage string, err error) error {
	if err == nil {
		return nil
	}
	if te := (*textproto.Error)(nil); errors.As(err, &te) {
		return &smtpError{stage: stage, code: te.Code} // te.Msg may quote the address
	}
	return &smtpError{stage: stage, err: err}
}

// deliver runs one SMTP session, bounded by ctx.
func (s *smtpSender) deliver(ctx context.Context, to string, msg []byte) error {
	if strings.ContainsAny(to, "\r\n<>") {
		return errors.New("smtp: an address that cannot be mailed")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return stageError("connect", err)
	}
	// The deadline bounds a server that stops answering, the AfterFunc a
	// cancelled context.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		_ = conn.Close()
		return stageError("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(s.helo); err != nil {
		return stageError("EHLO", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := s.tls
		if cfg == nil {
			cfg = &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return stageError("STARTTLS", err)
		}
	}
	if s.username != "" {
		// PlainAuth itself refuses to send the password unencrypted to
		// any host but localhost.
		if err := c.Auth(smtp.PlainAuth("", s.username, s.password, s.host)); err != nil {
			return stageError("AUTH", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return stageError("MAIL FROM", err)
	}
	if err := c.Rcpt(to); err != nil {
		return stageError("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return stageError("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return stageError("DATA", err)
	}
	if err := w.Close(); err != nil {
		return stageError("DATA", err)
	}
	return stageError("QUIT", c.Quit())
}

// message is the e-mail of kind, in plain text, with CRLF line ends.
func (s *smtpSender) message(kind, to, link string) []byte {
	subject, ok := subjects[kind]
	if !ok {
		subject = "Your account link"
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	var b strings.Builder
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", s.from.String())
	header("To", (&mail.Address{Address: to}).String())
	header("Subject", subject)
	header("Date", time.Now().Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(id[:])+"@"+s.helo+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "8bit")
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	switch kind {
	case "confirmation":
		b.WriteString("Open this link to confirm your account:\r\n\r\n" + link + "\r\n\r\n" +
			"If you did not register, ignore this e-mail.\r\n")
	case "password reset":
		b.WriteString("Open this link to choose a new password (it works once, for an hour):\r\n\r\n" + link + "\r\n\r\n" +
			"If you did not ask for it, ignore this e-mail: your password stays as it is.\r\n")
	default:
		b.WriteString(link + "\r\n")
	}
	return []byte(b.String())
}
