package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/gohttpauth/httpauth"
)

// The second factor's routes, behind the authenticator (see README,
// "Second factor"):
//
//	POST   /api/v1/account/2fa                 start: {"secret","otpauth_uri"}
//	GET    /api/v1/account/2fa/qr.png          the pending otpauth:// URI as a QR code
//	POST   /api/v1/account/2fa/confirm         {"code"} → {"recovery_codes":[10]}
//	POST   /api/v1/account/2fa/recovery-codes  password + X-OTP → {"recovery_codes":[10]}
//	DELETE /api/v1/account/2fa                 password + X-OTP → 204
//
// Logging in with the factor on needs the password and a code in the
// X-OTP header; the authenticator checks that before any of these
// handlers run.

// qrSize is the QR code's width and height in pixels.
const qrSize = 256

// twoFactorRoutes adds the second factor's routes to api, the /api/v1 mux
// behind the authenticator.
func twoFactorRoutes(api *http.ServeMux, auth *httpauth.Authenticator[User], logger *slog.Logger) {
	tf := &twoFactor{auth: auth, logger: logger}
	api.Handle("/api/v1/account/2fa", methods{
		http.MethodPost:   http.HandlerFunc(tf.start),
		http.MethodDelete: http.HandlerFunc(tf.disable),
	})
	api.Handle("/api/v1/account/2fa/qr.png", methods{http.MethodGet: http.HandlerFunc(tf.qr)})
	api.Handle("/api/v1/account/2fa/confirm", methods{http.MethodPost: http.HandlerFunc(tf.confirm)})
	api.Handle("/api/v1/account/2fa/recovery-codes", methods{http.MethodPost: http.HandlerFunc(tf.regenerate)})
}

type twoFactor struct {
	auth   *httpauth.Authenticator[User]
	logger *slog.Logger
}

// fail answers an error of the authenticator's second-factor methods.
func (tf *twoFactor) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	var te *httpauth.ThrottledError
	switch {
	case errors.As(err, &te):
		w.Header().Set("Retry-After", retryAfterSeconds(te))
		writeError(w, http.StatusTooManyRequests, "too_many_requests", "Too many failed attempts; try again later")
	case errors.Is(err, httpauth.ErrForbidden):
		writeError(w, http.StatusForbidden, "forbidden", err.Error())
	case errors.Is(err, httpauth.ErrUnauthorized):
		// A token, or a password without a fresh code: GitHub's answer.
		w.Header().Set("WWW-Authenticate", `Basic realm="httpauth example", charset="UTF-8"`)
		w.Header().Set("X-OTP", "required")
		writeError(w, http.StatusUnauthorized, "otp_required", "This change needs the password and a fresh code in X-OTP")
	case errors.Is(err, httpauth.ErrBadRequest):
		writeError(w, http.StatusBadRequest, "bad_request", badRequestMessage(err))
	default:
		tf.logger.LogAttrs(r.Context(), slog.LevelError, what, slog.Any("error", err))
		writeError(w, http.StatusInternalServerError, "internal_error", "Internal server error")
	}
}

// badRequestMessage is the part of an ErrBadRequest's text meant for the
// client.
func badRequestMessage(err error) string {
	const prefix = "httpauth: bad request: "
	if s := err.Error(); len(s) > len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):]
	}
	return "Bad request"
}

func retryAfterSeconds(te *httpauth.ThrottledError) string {
	return strconv.FormatInt(max(int64(te.RetryAfter/time.Second), 1), 10)
}

func (tf *twoFactor) start(w http.ResponseWriter, r *http.Request) {
	id, _ := tf.auth.Identity(r)
	secret, uri, err := tf.auth.StartTOTP(r.Context(), id)
	if err != nil {
		tf.fail(w, r, "start 2fa", err)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	// Not writeJSON: the URI's "&" stays as it is, not \u0026, so a
	// person can copy it from the answer.
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{"secret": secret, "otpauth_uri": uri})
}

func (tf *twoFactor) qr(w http.ResponseWriter, r *http.Request) {
	id, _ := tf.auth.Identity(r)
	uri, err := tf.auth.PendingTOTP(r.Context(), id)
	if err != nil {
		tf.fail(w, r, "2fa qr", err)
		return
	}
	if uri == "" {
		writeError(w, http.StatusNotFound, "not_found", "No second factor is being set up (POST /api/v1/account/2fa first)")
		return
	}
	png, err := qrcode.Encode(uri, qrcode.Medium, qrSize)
	if err != nil {
		tf.fail(w, r, "2fa qr: encode", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("Cache-Control", "no-store") // the picture is the secret
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(png)
}

func (tf *twoFactor) confirm(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Code string `json:"code"`
	}
	if !decode(w, r, &req) {
		return
	}
	id, _ := tf.auth.Identity(r)
	codes, err := tf.auth.ConfirmTOTP(r.Context(), id, req.Code)
	switch {
	case errors.Is(err, httpauth.ErrBadRequest):
		writeError(w, http.StatusBadRequest, "invalid_code", "The code is wrong, or no second factor is being set up")
	case err != nil:
		tf.fail(w, r, "confirm 2fa", err)
	default:
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, map[string][]string{"recovery_codes": codes})
	}
}

func (tf *twoFactor) regenerate(w http.ResponseWriter, r *http.Request) {
	id, _ := tf.auth.Identity(r)
	codes, err := tf.auth.RegenerateRecoveryCodes(r.Context(), id)
	if err != nil {
		tf.fail(w, r, "regenerate recovery codes", err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string][]string{"recovery_codes": codes})
}

func (tf *twoFactor) disable(w http.ResponseWriter, r *http.Request) {
	id, _ := tf.auth.Identity(r)
	if err := tf.auth.DisableTOTP(r.Context(), id); err != nil {
		tf.fail(w, r, "disable 2fa", err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
