import { client } from "./apollo";
import { loginPage, logout, ME, SESSIONS, profilePage, resetPasswordPage, sessionsPage, verifyEmailPage, type Page } from "./pages";
import { getAccessToken, onSessionLost, restoreSession } from "./session";

const app = document.querySelector<HTMLElement>("#app")!;
const nav = document.querySelector<HTMLElement>("#nav")!;
const pages: Record<string, Page> = {
  "#/login": loginPage,
  "#/profile": profilePage,
  "#/sessions": sessionsPage,
};

let shown = 0; // increments on each navigation; stale pages stop drawing

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
Object.assign(window, { ironcladExample: { client, queries: { ME, SESSIONS } } });

// A reload lost the in-memory access token; the refresh cookie restores it.
await restoreSession();
route();
