import { CombinedGraphQLErrors, gql } from "@apollo/client";
import { client } from "./apollo";
import { endSession, sessionLost, startSession, takeNotice } from "./session";

export const LOGIN = gql`
  mutation Login($username: String!, $password: String!) {
    login(username: $username, password: $password) {
      accessToken
    }
  }
`;
export const ME = gql`
  query Me {
    me { id username email role createdAt lastLoginAt }
  }
`;
export const SESSIONS = gql`
  query Sessions {
    sessions { id createdAt lastUsedAt userAgent ip current }
  }
`;
const REVOKE_SESSION = gql`
  mutation RevokeSession($id: ID!) {
    revokeSession(id: $id)
  }
`;
// No argument: Ironclad reads the refresh cookie, and clears it.
const LOGOUT = gql`
  mutation Logout {
    logout
  }
`;

type User = { id: string; username: string; email: string | null; role: string; createdAt: string; lastLoginAt: string | null };
type Session = { id: string; createdAt: string; lastUsedAt: string; userAgent: string | null; ip: string | null; current: boolean };

/** A page draws itself into el; isCurrent() turns false once the user has moved on. */
export type Page = (el: HTMLElement, isCurrent: () => boolean) => Promise<void>;

export const loginPage: Page = async (el) => {
  el.innerHTML = `
    <h1>Sign in</h1>
    <form id="login-form">
      <label>Username <input name="username" autocomplete="username" required /></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
      <button type="submit">Sign in</button>
      <p class="error" role="alert" id="login-error"></p>
    </form>`;
  el.querySelector("#login-error")!.textContent = takeNotice();
  const form = el.querySelector<HTMLFormElement>("#login-form")!;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = new FormData(form);
    try {
      const { data } = await client.mutate<{ login: { accessToken: string } }>({
        mutation: LOGIN,
        variables: { username: fields.get("username"), password: fields.get("password") },
      });
      startSession(data!.login.accessToken);
      location.hash = "#/profile";
    } catch (err) {
      el.querySelector("#login-error")!.textContent = messageOf(err);
    }
  });
};

export const profilePage: Page = async (el, isCurrent) => {
  el.innerHTML = `<h1>Profile</h1><p>Loading…</p>`;
  const data = await load<{ me: User }>(ME, el, isCurrent);
  if (!data) return;
  const { me } = data;
  el.innerHTML = `
    <h1>Profile</h1>
    <dl>
      <dt>Username</dt><dd id="profile-username">${esc(me.username)}</dd>
      <dt>Email</dt><dd>${esc(me.email ?? "—")}</dd>
      <dt>Role</dt><dd>${esc(me.role)}</dd>
      <dt>Member since</dt><dd>${date(me.createdAt)}</dd>
      <dt>Last sign-in</dt><dd>${me.lastLoginAt ? date(me.lastLoginAt) : "—"}</dd>
    </dl>`;
};

export const sessionsPage: Page = async (el, isCurrent) => {
  el.innerHTML = `<h1>Sessions</h1><p>Loading…</p>`;
  const data = await load<{ sessions: Session[] }>(SESSIONS, el, isCurrent);
  if (!data) return;
  el.innerHTML = `
    <h1>Sessions</h1>
    <p>Every device signed in to your account. Signing one out ends it at once.</p>
    <table>
      <thead><tr><th>Device</th><th>IP</th><th>Signed in</th><th>Last active</th><th></th></tr></thead>
      <tbody>${data.sessions
        .map(
          (s) => `
        <tr data-session="${esc(s.id)}">
          <td>${esc(s.userAgent || "unknown")}${s.current ? " <strong>(this device)</strong>" : ""}</td>
          <td>${esc(s.ip ?? "")}</td>
          <td>${date(s.createdAt)}</td>
          <td>${date(s.lastUsedAt)}</td>
          <td><button type="button" data-revoke="${esc(s.id)}" data-current="${s.current}">Sign out this device</button></td>
        </tr>`,
        )
        .join("")}</tbody>
    </table>`;
  el.querySelectorAll<HTMLButtonElement>("button[data-revoke]").forEach((button) =>
    button.addEventListener("click", async () => {
      if (button.dataset.current === "true") return logout();
      button.disabled = true;
      try {
        await client.mutate({ mutation: REVOKE_SESSION, variables: { id: button.dataset.revoke } });
      } catch (err) {
        if (!handleSessionOver(err)) alert(messageOf(err));
      }
      if (isCurrent()) await sessionsPage(el, isCurrent);
    }),
  );
};

/** Ends this session on the server (and its cookie), then shows the login page. */
export async function logout(): Promise<void> {
  // The token goes first: the SESSION_ENDED this logout causes on the
  // socket is then not taken for a sign-out from elsewhere.
  endSession();
  try {
    await client.mutate({ mutation: LOGOUT });
  } finally {
    await client.clearStore();
    location.hash = "#/login";
  }
}

// load runs a query from the network (each visit shows fresh data) and
// renders its error in el, unless the page is no longer shown.
async function load<T>(query: typeof ME, el: HTMLElement, isCurrent: () => boolean): Promise<T | null> {
  try {
    const { data } = await client.query<T>({ query, fetchPolicy: "network-only" });
    return isCurrent() ? (data as T) : null;
  } catch (err) {
    if (!handleSessionOver(err) && isCurrent()) {
      el.innerHTML = `<p class="error" role="alert">${esc(messageOf(err))}</p>`;
    }
    return null;
  }
}

// An authentication error that survived the refresh link means the session
// is over (revoked elsewhere, account deactivated): back to the login page.
function handleSessionOver(err: unknown): boolean {
  if (CombinedGraphQLErrors.is(err) && err.errors.some((e) => e.extensions?.code === "UNAUTHENTICATED")) {
    sessionLost();
    return true;
  }
  return false;
}

function messageOf(err: unknown): string {
  if (CombinedGraphQLErrors.is(err)) return err.errors[0]?.message ?? "request failed";
  return err instanceof Error ? err.message : String(err);
}

function date(iso: string): string {
  return esc(new Date(iso).toLocaleString());
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
