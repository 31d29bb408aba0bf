/**
 * The API reference page served at `/docs`: Scalar's API reference, whose script the Worker serves
 * itself (`/docs/scalar.js`, a static asset copied by `npm run build`), so the page needs nothing
 * but this server. The page fetches `/openapi.json` itself: with no tokens configured it renders at
 * once; with tokens it asks for one (the console's token, if this browser session entered one) and
 * sends it as `Authorization: Bearer …`, since a browser cannot send a token when it navigates.
 */

/** Where the page's scripts are served (routes/docs.ts). */
export const DOCS_PATHS = { page: "/docs", script: "/docs/page.js", scalar: "/docs/scalar.js" } as const;

/**
 * Scripts from this server only, and no inline script; fetches to this server only. Styles may be
 * inline: Scalar writes several `<style>` elements and style attributes from its script, not all
 * of which take a nonce (and a nonce would turn `'unsafe-inline'` off).
 */
export const DOCS_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgeserve API</title>
<style>
  #token-form, #docs-error { font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 1rem 1.25rem; border: 1px solid #dde1e8; border-radius: 8px; }
  #token-form input { width: 100%; box-sizing: border-box; font: inherit; padding: .35rem .45rem; margin: .5rem 0; }
  #docs-error { background: #fde8e8; color: #8a1c1c; }
</style>
</head>
<body>
<form id="token-form" hidden>
  <p id="token-message">This deployment needs a bearer token to show its API.</p>
  <label for="token">Bearer token</label>
  <input id="token" type="password" autocomplete="off">
  <button type="submit">Show the API</button>
</form>
<p id="docs-error" hidden></p>
<div id="reference"></div>
<script src="${DOCS_PATHS.scalar}"></script>
<script src="${DOCS_PATHS.script}"></script>
</body>
</html>
`;

/** The page's own script (served at `/docs/page.js`, so the policy needs no inline script). */
export const DOCS_PAGE_JS = `"use strict";
// The console's key: a token entered in either page serves both for this browser session.
const TOKEN_KEY = "edgeserve-token";
const form = document.getElementById("token-form");
const input = document.getElementById("token");
const message = document.getElementById("token-message");
const failure = document.getElementById("docs-error");

function ask(text) {
  message.textContent = text;
  form.hidden = false;
  input.focus();
}

function fail(text) {
  failure.textContent = text;
  failure.hidden = false;
}

async function show(token) {
  let res;
  try {
    res = await fetch("/openapi.json", { headers: token ? { authorization: "Bearer " + token } : {} });
  } catch (error) {
    fail("The API document could not be loaded: " + error.message);
    return;
  }
  if (res.status === 401) {
    ask(token ? "That token was refused: enter a valid bearer token." : "This deployment needs a bearer token to show its API.");
    return;
  }
  if (!res.ok) {
    fail("The API document could not be loaded: /openapi.json answered " + res.status + ".");
    return;
  }
  const spec = await res.json();
  form.hidden = true;
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  window.Scalar.createApiReference("#reference", {
    content: spec,
    // Nothing from elsewhere: no web fonts, no telemetry, no hosted agent or proxy.
    withDefaultFonts: false,
    telemetry: false,
    agent: { disabled: true },
    mcp: { disabled: true },
    persistAuth: false,
    showDeveloperTools: "never",
    // Every operation listed in the sidebar (the document is small), with full URLs in the examples.
    defaultOpenAllTags: true,
    baseServerURL: window.location.origin,
    // "Test Request" sends the same token.
    ...(token ? { authentication: { preferredSecurityScheme: "bearer", securitySchemes: { bearer: { token } } } } : {}),
  });
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  show(input.value.trim());
});
show(sessionStorage.getItem(TOKEN_KEY) ?? "");
`;
