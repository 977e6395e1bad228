// The session as the browser holds it.
//
// The access token lives in this module's memory only: not localStorage
// (any injected script could read it) and not a cookie. A reload loses it;
// the refresh token, in an HttpOnly cookie that script can never read,
// brings it back (restoreSession).

/** The GraphQL endpoint. Same origin by default (see vite.config.ts). */
export const GRAPHQL_URL: string = import.meta.env.VITE_IRONCLAD_URL ?? "/query";

/**
 * Ironclad uses the refresh cookie only on requests carrying this header,
 * which a form on another site cannot send (CSRF protection).
 */
export const CSRF_HEADER = { "X-Requested-With": "ironclad-spa" };

let accessToken: string | null = null;
let inflight: Promise<void> | null = null;
const lostListeners: Array<() => void> = [];
let notice = "";

export function getAccessToken(): string | null {
  return accessToken;
}

/** Stores the access token of a login. */
export function startSession(token: string): void {
  accessToken = token;
}

/** Forgets the access token; the server side is ended by logout. */
export function endSession(): void {
  accessToken = null;
}

/** Calls fn whenever the session is lost (a refresh failed). */
export function onSessionLost(fn: () => void): void {
  lostListeners.push(fn);
}

/**
 * Drops the in-memory access token and tells the listeners (back to the
 * login page). message, when given, is shown there once: "you were signed
 * out" when the server ended the session.
 */
export function sessionLost(message = ""): void {
  accessToken = null;
  notice = message;
  lostListeners.forEach((fn) => fn());
}

/** The message sessionLost left for the login page, once. */
export function takeNotice(): string {
  const n = notice;
  notice = "";
  return n;
}

/**
 * Trades the refresh cookie for a new access token. Concurrent callers share
 * one request: the refresh token rotates on every use, so two parallel
 * refreshes would present the same token twice, and Ironclad treats that as
 * theft and ends the session.
 */
export function refreshSession(): Promise<void> {
  inflight ??= requestAccessToken().finally(() => {
    inflight = null;
  });
  return inflight;
}

/** On start-up: a refresh cookie from an earlier visit restores the session. */
export async function restoreSession(): Promise<boolean> {
  try {
    await refreshSession();
    return true;
  } catch {
    return false;
  }
}

// A plain fetch, not Apollo: the refresh must not pass through the link that
// calls it. credentials "include" sends the cookie to a cross-origin API too
// (then list this app's origin in CORS_ALLOWED_ORIGINS).
async function requestAccessToken(): Promise<void> {
  const res = await fetch(GRAPHQL_URL, {
    method: "POST",
    credentials: "include",
    headers: { "Content-Type": "application/json", ...CSRF_HEADER },
    body: JSON.stringify({ query: "mutation Refresh { refreshToken { accessToken } }" }),
  });
  const body = await res.json().catch(() => null);
  const token: unknown = body?.data?.refreshToken?.accessToken;
  if (typeof token !== "string") {
    accessToken = null;
    throw new Error(body?.errors?.[0]?.message ?? `refresh failed: HTTP ${res.status}`);
  }
  accessToken = token;
}
