package main

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The account links, followed in a real headless browser: Debian's
// Chromium, driven over the DevTools protocol by chromedp. CI installs
// chromium (.ci/run); elsewhere the test skips without it.

// browserStepTimeout bounds one step (open a page, press, see the result):
// a generous limit on waiting, not a timing assertion.
const browserStepTimeout = 60 * time.Second

// chromium returns the Chromium binary, or skips the test (fails it with
// CI=true, so that CI cannot pass by skipping).
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed, and CI=true: apt-get install chromium (.ci/run does)")
	}
	t.Skip("chromium is not installed (apt-get install chromium); skipping the browser test")
	return ""
}

// newBrowser starts a headless Chromium with a profile of its own and
// everything that would reach the network by itself turned off; it is
// closed when the test ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // as root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-proxy-server", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for Chromium to exit, before TempDir's cleanup
	})
	// The first call starts the browser, which lives as long as its
	// context: no timeout on it (chromedp bounds the start itself).
	require.NoError(t, chromedp.Do(ctx), "starting chromium")
	return ctx
}

// inBrowser runs actions with the step timeout.
func inBrowser(t *testing.T, browser context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(browser, browserStepTimeout)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, actions...))
}

// TestBrowserAccountLinks: a person registers, opens the confirmation link
// from the log in Chromium, presses the button and sees the account
// confirmed; asks for a reset, opens that link, sets a new password in the
// form, and the new password then gets a token. Used links say so.
func TestBrowserAccountLinks(t *testing.T) {
	t.Parallel()
	browser := newBrowser(t)
	s := startAPI(t) // memory: the log is the mailbox
	const email, pw, newPW = "hana@example.com", "pw-hana-1", "new-pw-hana-2"
	var confirmLink, resetLink string

	// result opens link, runs the person's actions, and returns what the
	// page then shows in #result, and its class ("ok" or "error").
	result := func(t *testing.T, link string, actions ...chromedp.Action[chromedp.Void]) (text, class string) {
		t.Helper()
		all := append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(link)}, actions...)
		all = append(all, chromedp.WaitVisible(chromedp.ID("result")))
		inBrowser(t, browser, all...)
		ctx, cancel := context.WithTimeout(browser, browserStepTimeout)
		defer cancel()
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("result")))
		require.NoError(t, err)
		attr, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("result"), "class"))
		require.NoError(t, err)
		return text, attr.Value
	}
	pressConfirm := []chromedp.Action[chromedp.Void]{
		chromedp.WaitVisible(chromedp.ID("confirm-button")),
		chromedp.Click(chromedp.ID("confirm-button")),
	}
	setPassword := func(pw, again string) []chromedp.Action[chromedp.Void] {
		return []chromedp.Action[chromedp.Void]{
			chromedp.WaitVisible(chromedp.ID("password")),
			chromedp.SendKeys(chromedp.ID("password"), pw),
			chromedp.SendKeys(chromedp.ID("password2"), again),
			chromedp.Click(chromedp.ID("reset-button")),
		}
	}

	steps := []struct {
		name    string
		link    func(t *testing.T) string
		actions []chromedp.Action[chromedp.Void]
		class   string
		text    string
		after   func(t *testing.T)
	}{
		{"confirmation link", func(t *testing.T) string {
			confirmLink = registered(t, s, email, pw)
			require.Equal(t, 403, tokenStatus(t, s, email, pw), "unconfirmed before the press")
			return confirmLink
		}, pressConfirm, "ok", "Your account is confirmed",
			func(t *testing.T) {
				assert.Equal(t, 200, tokenStatus(t, s, email, pw), "confirmed: the password gets a token")
			}},
		{"confirmation link, used", func(*testing.T) string { return confirmLink }, pressConfirm,
			"error", "invalid, expired or already used", nil},
		{"reset link, passwords differ", func(t *testing.T) string {
			r := s.do(t, request{method: "POST", path: "/password-reset", body: map[string]string{"email": email}})
			require.Equal(t, 202, r.status, r.raw)
			resetLink = linkFromLog(t, s, "password reset", email)
			return resetLink
		}, setPassword(newPW, newPW+"x"), "error", "The two passwords differ",
			func(t *testing.T) {
				assert.Equal(t, 200, tokenStatus(t, s, email, pw), "nothing sent: the old password works")
			}},
		{"reset link", func(*testing.T) string { return resetLink }, setPassword(newPW, newPW),
			"ok", "Your password has been changed",
			func(t *testing.T) {
				assert.Equal(t, 200, tokenStatus(t, s, email, newPW), "the new password gets a token")
				assert.Equal(t, 401, tokenStatus(t, s, email, pw), "the old one is gone")
			}},
		{"reset link, used", func(*testing.T) string { return resetLink }, setPassword("other-pw-3", "other-pw-3"),
			"error", "invalid, expired or already used",
			func(t *testing.T) { assert.Equal(t, 200, tokenStatus(t, s, email, newPW)) }},
		{"link without a token", func(*testing.T) string { return s.base + "/confirm" }, nil,
			"error", "invalid, expired or already used", nil},
	}
	for _, st := range steps { // in order: each step builds on the last
		if !t.Run(st.name, func(t *testing.T) {
			text, class := result(t, st.link(t), st.actions...)
			assert.Equal(t, st.class, class, text)
			assert.Contains(t, text, st.text)
			if st.after != nil {
				st.after(t)
			}
		}) {
			return
		}
	}
}
