import { gql } from "@apollo/client";
import type { Subscription } from "rxjs";
import { client, closes, SIGNED_OUT } from "./apollo";
import { loginPage, logout, ME, SESSIONS, profilePage, resetPasswordPage, sessionsPage, verifyEmailPage, type Page } from "./pages";
import { getAccessToken, onSessionLost, restoreSession, sessionLost } from "./session";

const app = document.querySelector<HTMLElement>("#app")!;
const nav = document.querySelector<HTMLElement>("#nav")!;
const pages: Record<string, Page> = {
  "#/login": loginPage,
  "#/profile": profilePage,
  "#/sessions": sessionsPage,
};

let shown = 0; // increments on each navigation; stale pages stop drawing

// Events about this account and session, over the websocket while signed in.
const SESSION_EVENTS = gql`
  subscription SessionEvents {
    sessionEvents { type sessionId at userAgent ip }
  }
`;
type SessionEvent = { type: string; sessionId: string | null; at: string; userAgent: string | null; ip: string | null };
let live: Subscription | null = null;
const notice = document.querySelector<HTMLElement>("#notice")!;

function watchSession(signedIn: boolean): void {
  if (!signedIn) {
    live?.unsubscribe();
    live = null;
    notice.hidden = true;
    return;
  }
  if (live) return;
  let over = false;
  // graphql-ws ends subscriptions on 4401 (expired token) whatever
  // shouldRetry says, and Apollo Client reports it as an error result or
  // an error: subscribe again, and the connection refreshes first
  // (apollo.ts). Any other end leaves it ended.
  const ended = () => {
    if (over) return;
    over = true;
    live = null;
    if (closes.at(-1) === 4401 && getAccessToken() !== null) watchSession(true);
  };
  live = client.subscribe<{ sessionEvents: SessionEvent }>({ query: SESSION_EVENTS }).subscribe({
    next: ({ data, error }) => {
      if (error) return ended();
      const ev = data?.sessionEvents;
      if (!ev) return;
      switch (ev.type) {
        case "SESSION_ENDED": // signed out elsewhere: the server closes the socket next
          if (getAccessToken() !== null) sessionLost(SIGNED_OUT);
          break;
        case "OTHER_SESSION_STARTED":
          show(`New sign-in from ${ev.userAgent ?? "an unknown device"}${ev.ip ? ` (${ev.ip})` : ""}`);
          break;
        case "PROFILE_CHANGED":
        case "ROLE_CHANGED":
          show("Your account changed.");
          void client.refetchQueries({ include: "active" });
          break;
      }
    },
    error: ended,
    complete: ended,
  });
}

function show(text: string): void {
  notice.textContent = text;
  notice.hidden = false;
}
// The pages mail links open are paths, with the token in the fragment.
const linkPages: Record<string, Page> = { "/reset-password": resetPasswordPage, "/verify-email": verifyEmailPage };

function route(): void {
  const linkPage = linkPages[location.pathname];
  if (linkPage) {
    nav.hidden = true;
    void linkPage(app, () => true);
    return;
  }
  const signedIn = getAccessToken() !== null;
  watchSession(signedIn);
  const target = !signedIn ? "#/login" : pages[location.hash] && location.hash !== "#/login" ? location.hash : "#/profile";
  if (location.hash !== target) {
    location.replace(target); // fires hashchange, which routes again
    return;
  }
  nav.hidden = !signedIn;
  const view = ++shown;
  void pages[target](app, () => view === shown);
}

onSessionLost(() => {
  void client.clearStore();
  route();
});
document.querySelector("#logout")!.addEventListener("click", () => void logout());
window.addEventListener("hashchange", () => {
  if (!linkPages[location.pathname]) route();
});

// For the Apollo devtools console and the browser test: the client and the
// documents the pages use.
Object.assign(window, { ironcladExample: { client, queries: { ME, SESSIONS }, closes } });

// A reload lost the in-memory access token; the refresh cookie restores it.
await restoreSession();
route();
