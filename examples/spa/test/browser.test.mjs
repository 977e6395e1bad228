// The whole loop in a real browser: this app, built, served by `vite
// preview` (which forwards /query to Ironclad, so the cookie is same-origin),
// against a real Ironclad server started here with a 3-second access-token
// lifetime, driven in Debian's Chromium through playwright-core; then that
// server's own GraphQL playground, with every other origin cut off; last,
// live sessions over the websocket: a browser signed out from another one
// shows the login page at once, and an idle socket whose token expires
// reconnects with a fresh one. The journey's first browsers get a silent
// stand-in for the websocket, so that its refreshes do not mix with the
// ones they count.
//
//   npm run test:browser        (needs Go, and Chromium at /usr/bin/chromium)
//
// SCREENSHOTS=all saves a screenshot after every step; failures always do,
// under test-results/.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const appDir = path.resolve(here, "..");
const repoRoot = path.resolve(appDir, "../..");
const resultsDir = path.join(appDir, "test-results");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

const ACCESS_TTL_S = 3;
const LEEWAY_S = 30; // Ironclad accepts access tokens up to 30 s past exp (clock skew)
const PASSWORD = "correct horse battery staple";
const STEP_TIMEOUT = 15_000;

const procs = [];
let tmp, ironcladURL, appURL, browser;
const lastLogin = { at: 0 };

// --- setup: Ironclad, the app, the browser -------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// start runs a long-lived child with its output in a log file, and resolves
// once url answers.
async function start(name, cmd, args, opts, url) {
  const log = openSync(path.join(tmp, `${name}.log`), "w");
  const child = spawn(cmd, args, { ...opts, stdio: ["ignore", log, log] });
  procs.push(child);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}; see ${tmp}/${name}.log`);
    try {
      if ((await fetch(url)).ok) return child;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`${name} did not answer ${url} within 60 s`);
}

before(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), "ironclad-spa-"));
  mkdirSync(resultsDir, { recursive: true });
  const bin = path.join(tmp, "ironclad");
  execFileSync("go", ["build", "-o", bin, "."], { cwd: repoRoot, stdio: "inherit" });
  execFileSync("npm", ["run", "build"], { cwd: appDir, stdio: "inherit" });

  const ironcladPort = await freePort();
  const env = {
    ...process.env,
    ADDR: `127.0.0.1:${ironcladPort}`,
    DATA_DIR: path.join(tmp, "data"),
    JWT_SECRET: randomBytes(48).toString("base64"),
    ACCESS_TOKEN_TTL: `${ACCESS_TTL_S}s`,
    REFRESH_TOKEN_COOKIE: "true",
    COOKIE_SECURE: "false", // http://127.0.0.1
    LOG_LEVEL: "warn",
  };
  for (const username of ["alice", "bob", "carol", "dave", "erin"]) {
    execFileSync(bin, ["createuser", "--username", username, "--email", `${username}@example.com`, "--password-stdin"], {
      env,
      input: PASSWORD + "\n",
    });
  }
  ironcladURL = `http://127.0.0.1:${ironcladPort}`;
  await start("ironclad", bin, [], { env }, `${ironcladURL}/healthz`);

  const appPort = await freePort();
  appURL = `http://127.0.0.1:${appPort}`;
  await start(
    "vite-preview",
    path.join(appDir, "node_modules/.bin/vite"),
    ["preview", "--host", "127.0.0.1", "--port", String(appPort), "--strictPort"],
    { cwd: appDir, env: { ...process.env, IRONCLAD_URL: ironcladURL } },
    appURL,
  );

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Playwright gives every launch a fresh, empty profile (user data dir).
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
});

after(async () => {
  await browser?.close();
  for (const p of procs) p.kill("SIGTERM");
  if (tmp && !process.exitCode) rmSync(tmp, { recursive: true, force: true });
});

// --- helpers ---------------------------------------------------------------

// A browser: its own cookie jar, one page, and a record of its /query
// traffic. Without live, the websocket to /query is a silent stand-in that
// never acknowledges (the subscription waits; nothing expires or refreshes
// behind the test's back); with it, the real socket, whose openings and
// connection_acks are counted.
async function openBrowser(name, { accept, live = false } = {}) {
  const context = await browser.newContext();
  if (!live) await context.routeWebSocket(/\/query$/, () => {});
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  const b = { name, context, page, refreshes: 0, responses: [], sockets: 0, acks: 0, console: [] };
  page.on("console", (m) => b.console.push(m.text()));
  page.on("websocket", (ws) => {
    b.sockets++;
    ws.on("framereceived", ({ payload }) => {
      if (String(payload).includes('"connection_ack"')) b.acks++;
    });
  });
  if (accept) {
    // Replace Apollo Client 4's Accept (graphql-response+json first) to run
    // the same app in the other mode of the server.
    await page.route("**/query", (route) => route.continue({ headers: { ...route.request().headers(), accept } }));
  }
  page.on("request", (req) => {
    if (new URL(req.url()).pathname === "/query" && req.postData()?.includes("refreshToken")) b.refreshes++;
  });
  page.on("response", async (res) => {
    if (new URL(res.url()).pathname !== "/query") return;
    const entry = { status: res.status(), refresh: !!res.request().postData()?.includes("refreshToken"), body: "" };
    b.responses.push(entry);
    entry.body = await res.text().catch(() => "");
  });
  return b;
}

// step runs fn and keeps a screenshot of b's page if it fails (or always,
// with SCREENSHOTS=all).
async function step(b, name, fn) {
  const shot = (suffix) =>
    b.page.screenshot({ path: path.join(resultsDir, `${name}${suffix}.png`), fullPage: true }).catch(() => {});
  try {
    await fn();
  } catch (err) {
    await shot("-FAILED");
    throw err;
  }
  if (process.env.SCREENSHOTS === "all") await shot("");
}

async function signIn(b, username, password = PASSWORD) {
  await b.page.goto(`${appURL}/`);
  await b.page.locator("#login-form").waitFor();
  await b.page.fill("input[name=username]", username);
  await b.page.fill("input[name=password]", password);
  await b.page.click("button[type=submit]");
}

async function gql(query, { cookie, headers = {}, userAgent } = {}) {
  const res = await fetch(`${ironcladURL}/query`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "X-Requested-With": "browser-test",
      ...(cookie ? { Cookie: cookie } : {}),
      ...(userAgent ? { "User-Agent": userAgent } : {}),
      ...headers,
    },
    body: JSON.stringify({ query }),
  });
  return { res, body: await res.json() };
}

const sessionRows = (b) => b.page.locator("tr[data-session]");

// until polls cond every 50 ms and fails after ms.
async function until(cond, ms, what) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(50);
  }
}

// --- the journey -----------------------------------------------------------

let alice, bob, carol;

test("a bad password shows the error", async () => {
  alice = await openBrowser("alice");
  await step(alice, "01-bad-password", async () => {
    await signIn(alice, "alice", "not the password");
    await alice.page.getByRole("alert").filter({ hasText: "invalid username or password" }).waitFor();
    assert.equal(await alice.page.locator("#profile-username").count(), 0);
  });
});

test("log in and see the profile", async () => {
  await step(alice, "02-profile", async () => {
    await signIn(alice, "alice");
    await alice.page.locator("#profile-username", { hasText: "alice" }).waitFor();
    lastLogin.at = Date.now();
    const cookies = await alice.context.cookies();
    const refresh = cookies.find((c) => c.name === "ironclad_refresh");
    assert.ok(refresh, "no refresh cookie");
    assert.equal(refresh.httpOnly, true);
    assert.equal(refresh.sameSite, "Strict");
    assert.equal(refresh.path, "/query");
    // The access token is in memory only: nothing in web storage.
    const stored = await alice.page.evaluate(() => localStorage.length + sessionStorage.length);
    assert.equal(stored, 0);
  });
});

test("two more browsers sign in", async () => {
  bob = await openBrowser("bob", { accept: "application/json" });
  carol = await openBrowser("carol");
  for (const b of [bob, carol]) {
    await step(b, `03-${b.name}-profile`, async () => {
      await signIn(b, b.name);
      await b.page.locator("#profile-username", { hasText: b.name }).waitFor();
    });
  }
  lastLogin.at = Date.now();
});

test("wait past the access-token lifetime", async () => {
  // Real time is the point: the server's clock expires the tokens.
  const until = lastLogin.at + (ACCESS_TTL_S + LEEWAY_S + 2) * 1000;
  await sleep(Math.max(0, until - Date.now()));
  for (const b of [alice, bob, carol]) {
    b.refreshes = 0;
    b.responses.length = 0;
  }
});

test("after expiry, navigating shows data again after exactly one refresh (HTTP 401 mode)", async () => {
  await step(alice, "05-navigate-after-expiry", async () => {
    await alice.page.click("text=Sessions");
    await sessionRows(alice).first().waitFor();
    assert.equal(alice.refreshes, 1);
    // Apollo Client 4 prefers application/graphql-response+json: the expired
    // token was answered 401, the link refreshed and retried.
    const failed = alice.responses.filter((r) => !r.refresh && r.status === 401);
    assert.equal(failed.length, 1, JSON.stringify(alice.responses));
    assert.match(failed[0].body, /token_expired/);
  });
});

test("after expiry, five queries at once share one refresh (HTTP 200 mode)", async () => {
  await step(bob, "06-five-queries", async () => {
    const names = await bob.page.evaluate(async () => {
      const { client, queries } = window.ironcladExample;
      const results = await Promise.all(
        Array.from({ length: 5 }, () =>
          client.query({ query: queries.ME, fetchPolicy: "network-only", context: { queryDeduplication: false } }),
        ),
      );
      return results.map((r) => r.data.me.username);
    });
    assert.deepEqual(names, ["bob", "bob", "bob", "bob", "bob"]);
    assert.equal(bob.refreshes, 1);
    const queries = bob.responses.filter((r) => !r.refresh);
    const expired = queries.filter((r) => /token_expired/.test(r.body));
    assert.equal(expired.length, 5, JSON.stringify(bob.responses));
    assert.ok(queries.every((r) => r.status === 200), "application/json must keep HTTP 200");
  });
});

test("a failed refresh goes to the login page", async () => {
  await step(carol, "07-failed-refresh", async () => {
    await carol.context.clearCookies(); // the refresh cookie is gone
    await carol.page.click("text=Sessions");
    await carol.page.locator("#login-form").waitFor();
    assert.equal(carol.refreshes, 1);
  });
});

test("a reload keeps the session", async () => {
  alice.refreshes = 0;
  await step(alice, "08-reload", async () => {
    await alice.page.reload();
    await sessionRows(alice).first().waitFor();
    assert.equal(alice.refreshes, 1, "the reload restores the session with one refresh");
    await alice.page.click("text=Profile");
    await alice.page.locator("#profile-username", { hasText: "alice" }).waitFor();
  });
});

test("sign out another session", async () => {
  await step(alice, "09-sign-out-other", async () => {
    // A second device signs in directly over HTTP.
    const { res, body } = await gql(
      `mutation { login(username: "alice", password: "${PASSWORD}") { accessToken } }`,
      { userAgent: "SecondDevice/1.0" },
    );
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith("ironclad_refresh="))?.split(";")[0];
    assert.ok(cookie, "login set no cookie");
    const access = body.data.login.accessToken;

    await alice.page.click("text=Sessions");
    const other = sessionRows(alice).filter({ hasText: "SecondDevice/1.0" });
    await other.waitFor();
    const before = await sessionRows(alice).count();
    assert.equal(await sessionRows(alice).filter({ hasText: "(this device)" }).count(), 1);
    await other.getByRole("button", { name: "Sign out this device" }).click();
    await other.waitFor({ state: "detached" });
    // The page reloads its list ("Loading…" in between): wait for the new table.
    await alice.page.locator("table").waitFor();
    assert.equal(await sessionRows(alice).count(), before - 1);
    assert.equal(await sessionRows(alice).filter({ hasText: "SecondDevice/1.0" }).count(), 0);

    // That device is signed out at once: its access token and its cookie.
    const me = await gql("{ me { id } }", { headers: { Authorization: `Bearer ${access}` } });
    assert.equal(me.body.errors?.[0]?.extensions?.reason, "session_revoked");
    const refresh = await gql("mutation { refreshToken { accessToken } }", { cookie });
    assert.equal(refresh.body.errors?.[0]?.extensions?.code, "UNAUTHENTICATED");
  });
});

test("log out lands on the login page, and stays there after a reload", async () => {
  await step(alice, "10-logout", async () => {
    await alice.page.click("#logout");
    await alice.page.locator("#login-form").waitFor();
    const cookies = await alice.context.cookies();
    assert.equal(cookies.find((c) => c.name === "ironclad_refresh"), undefined, "logout left the cookie");
    alice.refreshes = 0;
    await alice.page.reload();
    await alice.page.locator("#login-form").waitFor();
    assert.equal(alice.refreshes, 1);
    assert.equal(await alice.page.locator("#nav").isHidden(), true);
  });
});

test("the playground works offline: GraphiQL from the binary, under its CSP", async () => {
  // A browser with no internet: anything but Ironclad's own origin fails.
  const b = await openBrowser("playground");
  const offsite = [];
  await b.context.route("**/*", (route) => {
    if (new URL(route.request().url()).origin === ironcladURL) return route.continue();
    offsite.push(route.request().url());
    return route.abort("internetdisconnected");
  });
  await b.page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.cspViolations.push(`${e.effectiveDirective} ${e.blockedURI}`),
    );
  });
  await step(b, "11-playground", async () => {
    const introspection = b.page.waitForRequest((req) => req.postData()?.includes("IntrospectionQuery"));
    await b.page.goto(`${ironcladURL}/`);
    const editor = b.page.locator(".graphiql-query-editor .CodeMirror");
    await editor.getByText("Welcome to the Ironclad playground").waitFor();
    const doc = await editor.evaluate((el) => el.CodeMirror.getValue());
    assert.match(doc, /mutation Login \{/);
    assert.match(doc, /Cookie mode is on/); // this server runs REFRESH_TOKEN_COOKIE=true
    // The fetcher loaded the schema, with the CSRF header cookie mode needs.
    assert.equal((await introspection).headers()["x-requested-with"], "graphiql");
    assert.deepEqual(offsite, []);
    assert.deepEqual(await b.page.evaluate(() => window.cspViolations), []);
  });
  await b.context.close();
});

// --- live sessions over the websocket --------------------------------------

test("signed out from another browser: the login page within 2 s, with no click", async () => {
  const a = await openBrowser("dave-a", { live: true });
  const b = await openBrowser("dave-b", { live: true });
  for (const d of [a, b]) {
    await step(d, `12-${d.name}-signed-in`, async () => {
      await signIn(d, "dave");
      await d.page.locator("#profile-username", { hasText: "dave" }).waitFor();
      await until(() => d.acks >= 1, STEP_TIMEOUT, `${d.name}'s socket acknowledged`);
    });
  }
  await step(a, "13-sign-out-the-other-browser", async () => {
    await a.page.click("text=Sessions");
    const other = sessionRows(a).filter({ hasNotText: "(this device)" });
    await other.first().waitFor();
    assert.equal(await other.count(), 1);
    await other.getByRole("button", { name: "Sign out this device" }).click();
  });
  await step(b, "14-signed-out-without-a-click", async () => {
    // SESSION_ENDED arrives over B's socket, then the 4403 close: B drops
    // its access token and shows the login page by itself.
    await b.page.getByRole("alert").filter({ hasText: "you were signed out" }).waitFor({ timeout: 2_000 });
    await b.page.locator("#login-form").waitFor({ timeout: 2_000 });
    assert.equal(await b.page.locator("#nav").isHidden(), true);
    const closes = await b.page.evaluate(() => window.ironcladExample.closes);
    assert.ok(closes.includes(4403), `closes ${JSON.stringify(closes)}`);
  });
  // A was not signed out.
  await a.page.click("text=Profile");
  await a.page.locator("#profile-username", { hasText: "dave" }).waitFor();
  await a.context.close();
  await b.context.close();
});

test("an access token expiring while idle: the socket reconnects with a fresh token and keeps receiving events", async () => {
  const e = await openBrowser("erin", { live: true });
  await step(e, "15-erin-signed-in", async () => {
    await signIn(e, "erin");
    await e.page.locator("#profile-username", { hasText: "erin" }).waitFor();
    await until(() => e.acks >= 1, STEP_TIMEOUT, "erin's socket acknowledged");
  });
  e.refreshes = 0;
  await step(e, "16-idle-expiry", async () => {
    // Nothing is clicked: the server closes the socket with 4401 when the
    // token's exp (plus leeway) passes; the app refreshes once and reconnects.
    await until(() => e.acks >= 2, (ACCESS_TTL_S + LEEWAY_S + 20) * 1000, "a second connection_ack").catch(async (err) => {
      const closes = await e.page.evaluate(() => window.ironcladExample.closes);
      throw new Error(`${err.message}; sockets ${e.sockets}, acks ${e.acks}, refreshes ${e.refreshes}, closes ${JSON.stringify(closes)}, console ${JSON.stringify(e.console)}`);
    });
    const closes = await e.page.evaluate(() => window.ironcladExample.closes);
    assert.ok(closes.includes(4401), `closes ${JSON.stringify(closes)}`);
    assert.ok(e.refreshes >= 1, `the reconnection refreshed the access token: ${JSON.stringify(e.responses)} ${JSON.stringify(e.console)} ${e.sockets} ${JSON.stringify(closes)}`);
    assert.ok(e.sockets >= 2);
  });
  await step(e, "17-still-receiving", async () => {
    const { body } = await gql(`mutation { login(username: "erin", password: "${PASSWORD}") { accessToken } }`, {
      userAgent: "ThirdDevice/2.0",
    });
    assert.ok(body.data?.login?.accessToken, JSON.stringify(body));
    await e.page.locator("#notice", { hasText: "New sign-in from ThirdDevice/2.0" }).waitFor();
    // Still signed in, on the page it was on.
    await e.page.locator("#profile-username", { hasText: "erin" }).waitFor();
  });
  await e.context.close();
});
