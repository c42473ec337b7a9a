package httpauth

import (
	"log/slog"
	"net/http"
	"strconv"
	"unicode"
	"unicode/utf8"
)

const (
	levelError = slog.LevelError
	maxLogLen  = 128
)

func errAttr(err error) slog.Attr { return slog.Any("error", err) }

// audit emits one auth.success or auth.failure event. who is a login or a
// user ID, never a secret; it is escaped so CR, LF or ANSI codes in a login
// cannot forge log lines.
func (a *Authenticator[U]) audit(r *http.Request, success bool, who string, reason string, t transport) {
	a.auditMethod(r, success, who, reason, methodOf(t), t)
}

// anonymous reports a request without credentials that an Optional route
// let through: an event for metrics, and no log line, since public routes
// see many.
func (a *Authenticator[U]) anonymous(r *http.Request) {
	if a.cfg.OnEvent != nil {
		a.emit(Event{Request: r, Reason: reasonAnonymous})
	}
}

// auditMethod is audit for a method that the transport does not tell (an
// API key travels like a token). It also emits the Config.OnEvent event.
func (a *Authenticator[U]) auditMethod(r *http.Request, success bool, who string, reason string, m Credential, t transport) {
	if a.cfg.OnEvent != nil {
		a.emit(Event{Request: r, Success: success, Reason: reason, Credential: m, transport: t, Who: who})
	}
	level, msg := slog.LevelWarn, "auth.failure"
	if success {
		level, msg = slog.LevelInfo, "auth.success"
		if t != transportBasic {
			level = slog.LevelDebug // a token request is routine; a login is an event
		}
	}
	ctx := r.Context()
	if !a.cfg.Logger.Enabled(ctx, level) {
		return
	}
	a.cfg.Logger.LogAttrs(ctx, level, msg,
		slog.String("login", escapeLog(who)),
		slog.String("reason", string(reason)),
		slog.String("transport", t.String()),
		slog.String("remote", escapeLog(r.RemoteAddr)),
	)
}

// escapeLog returns s unchanged when it is short printable UTF-8, and
// otherwise a Go-quoted, truncated form without the quotes.
func escapeLog(s string) string {
	clean := len(s) <= maxLogLen && utf8.ValidString(s)
	if clean {
		for _, r := range s {
			if !unicode.IsPrint(r) || r == '\\' || r == '"' {
				clean = false
				break
			}
		}
	}
	if clean {
		return s
	}
	if len(s) > maxLogLen {
		s = s[:maxLogLen]
	}
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}
