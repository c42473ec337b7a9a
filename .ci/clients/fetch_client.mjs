// Gets a token from examples/api with Node's fetch, as a browser would.
//
// Usage: HTTPAUTH_CLIENT_PASSWORD=... node fetch_client.mjs URL LOGIN btoa|buffer
//
// btoa:   btoa(login + ":" + password), as browser code does: each
//         character below U+0100 becomes one byte, so a non-ASCII password
//         is sent in ISO-8859-1 (and btoa throws above U+00FF).
// buffer: Buffer.from(..., "utf8").toString("base64"): UTF-8.
//
// Prints "STATUS TOKEN" (TOKEN is "-" when the reply has none).
const [url, login, mode] = process.argv.slice(2);
const password = process.env.HTTPAUTH_CLIENT_PASSWORD;
const pair = `${login}:${password}`;
const b64 = mode === "btoa" ? btoa(pair) : Buffer.from(pair, "utf8").toString("base64");
const res = await fetch(`${url}/api/v1/tokens/`, {
  method: "POST",
  headers: { Authorization: `Basic ${b64}` },
});
let token = "-";
try {
  token = (await res.json()).token || "-";
} catch {
  // not JSON
}
console.log(res.status, token);
