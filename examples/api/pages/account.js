// The account-link pages' one script (served as /static/account.js; the
// pages' Content-Security-Policy allows no inline script). It sends the
// page's form to the JSON route named in its action and shows the result.
// Nothing happens on load: the state changes only when the person presses
// the button (mail scanners fetch links, they do not press buttons).
"use strict";

const done = {
  confirm: "Your account is confirmed. You can now log in.",
  reset: "Your password has been changed. Log in with the new one: tokens and API keys issued before it no longer work.",
};

const invalid = {
  confirm: "This link is invalid, expired or already used. Log in to ask for a new confirmation link.",
  reset: "This link is invalid, expired or already used. Ask for a new password-reset link.",
};

function show(ok, text) {
  const result = document.getElementById("result");
  result.textContent = text; // text, never HTML
  result.className = ok ? "ok" : "error";
  result.hidden = false;
}

async function send(form) {
  const kind = form.dataset.kind;
  const body = { token: form.elements.token.value };
  if (kind === "reset") {
    if (form.elements.password.value !== form.elements.password2.value) {
      show(false, "The two passwords differ.");
      return;
    }
    body.password = form.elements.password.value;
  }
  const button = form.querySelector("button");
  button.disabled = true;
  let resp;
  try {
    resp = await fetch(form.getAttribute("action"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    button.disabled = false;
    show(false, "The server could not be reached. Try again.");
    return;
  }
  if (resp.status === 204) {
    form.hidden = true;
    show(true, done[kind]);
    return;
  }
  let e = {};
  try {
    e = await resp.json();
  } catch {
    // not JSON: the status alone
  }
  if (e.error === "invalid_token") {
    form.hidden = true;
    show(false, invalid[kind]);
    return;
  }
  button.disabled = false;
  show(false, (e.message || "The request failed") + " (HTTP " + resp.status + ").");
}

const form = document.getElementById("account-form");
if (form) {
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    send(form);
  });
}
