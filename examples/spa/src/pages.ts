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

const REQUEST_RESET = gql`
  mutation RequestPasswordReset($email: String!) {
    requestPasswordReset(email: $email)
  }
`;
const RESET_PASSWORD = gql`
  mutation ResetPassword($token: String!, $newPassword: String!) {
    resetPassword(token: $token, newPassword: $newPassword)
  }
`;
const VERIFY_EMAIL = gql`
  mutation VerifyEmail($token: String!) {
    verifyEmail(token: $token)
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
    </form>
    <section id="check-mail" hidden>
      <h2>Check your mail</h2>
      <p>Your email address is not verified yet. Open the link we sent you, then sign in again.</p>
      <button type="button" id="resend">Send the link again</button>
      <p role="status" id="resend-status"></p>
    </section>
    <details>
      <summary>Forgot your password?</summary>
      <form id="forgot-form">
        <label>Email <input name="email" type="email" autocomplete="email" required /></label>
        <button type="submit">Send me a reset link</button>
        <p role="status" id="forgot-status"></p>
      </form>
    </details>`;
  el.querySelector("#login-error")!.textContent = takeNotice();
  const form = el.querySelector<HTMLFormElement>("#login-form")!;
  const checkMail = el.querySelector<HTMLElement>("#check-mail")!;
  const signIn = async (username: FormDataEntryValue | null, password: FormDataEntryValue | null) => {
    try {
      const { data } = await client.mutate<{ login: { accessToken: string } }>({ mutation: LOGIN, variables: { username, password } });
      startSession(data!.login.accessToken);
      location.hash = "#/profile";
    } catch (err) {
      // EMAIL_VERIFICATION=required: the password was right, the address
      // is not verified; the server has sent a fresh link.
      if (reasonOf(err) === "email_unverified") {
        checkMail.hidden = false;
        el.querySelector("#login-error")!.textContent = "";
        return true;
      }
      el.querySelector("#login-error")!.textContent = messageOf(err);
    }
    return false;
  };
  let last: FormData | null = null;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    last = new FormData(form);
    await signIn(last.get("username"), last.get("password"));
  });
  // Each unverified sign-in sends a new link (limited by the server): the
  // resend button signs in again with what was typed.
  el.querySelector("#resend")!.addEventListener("click", async () => {
    if (!last) return;
    const status = el.querySelector("#resend-status")!;
    if (await signIn(last.get("username"), last.get("password"))) status.textContent = "We sent a new link.";
  });
  const forgot = el.querySelector<HTMLFormElement>("#forgot-form")!;
  forgot.addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = el.querySelector("#forgot-status")!;
    try {
      await client.mutate({ mutation: REQUEST_RESET, variables: { email: new FormData(forgot).get("email") } });
      status.textContent = "If an account has this address, a reset link is on its way.";
    } catch (err) {
      status.textContent = messageOf(err);
    }
  });
};

// The page of the reset link (APP_URL/reset-password#token=…). Opening it
// does nothing by itself: the token stays in the fragment (never sent to a
// server) until the user submits the form, so mail scanners that fetch
// links use up nothing. The 8-character code from the mail works too.
export const resetPasswordPage: Page = async (el) => {
  const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";
  el.innerHTML = `
    <h1>Choose a new password</h1>
    <form id="reset-form">
      <label>Code from the mail <input name="token" value="${esc(token)}" ${token ? "readonly" : ""} required /></label>
      <label>New password <input name="newPassword" type="password" autocomplete="new-password" required /></label>
      <button type="submit">Set the new password</button>
      <p role="status" id="reset-status"></p>
    </form>`;
  const form = el.querySelector<HTMLFormElement>("#reset-form")!;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = new FormData(form);
    const status = el.querySelector("#reset-status")!;
    try {
      await client.mutate({ mutation: RESET_PASSWORD, variables: { token: fields.get("token"), newPassword: fields.get("newPassword") } });
      status.innerHTML = `Your password was changed and every device was signed out. <a href="/#/login">Sign in</a>`;
      form.querySelector("button")!.disabled = true;
    } catch (err) {
      status.textContent = messageOf(err);
    }
  });
};

// The page of the verification link (APP_URL/verify-email#token=…): a
// button, for the same reason as above.
export const verifyEmailPage: Page = async (el) => {
  const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";
  el.innerHTML = `
    <h1>Confirm your email address</h1>
    <button type="button" id="verify">Confirm my address</button>
    <p role="status" id="verify-status"></p>`;
  el.querySelector("#verify")!.addEventListener("click", async () => {
    const status = el.querySelector("#verify-status")!;
    try {
      await client.mutate({ mutation: VERIFY_EMAIL, variables: { token } });
      status.innerHTML = `Thank you: your address is verified. <a href="/#/login">Sign in</a>`;
    } catch (err) {
      status.textContent = messageOf(err);
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

function reasonOf(err: unknown): unknown {
  return CombinedGraphQLErrors.is(err) ? err.errors[0]?.extensions?.reason : undefined;
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
