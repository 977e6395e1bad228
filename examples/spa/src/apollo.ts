import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, ServerError } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import { catchError, from, mergeMap, of, switchMap, throwError } from "rxjs";
import { CSRF_HEADER, getAccessToken, GRAPHQL_URL, refreshSession, sessionLost } from "./session";

// Reasons after which a new access token helps. Others (session_revoked,
// user_inactive, ...) mean the session is over: refreshing cannot fix them.
const REFRESHABLE = new Set(["token_expired", "invalid_token"]);

function needsRefresh(result: ApolloLink.Result): boolean {
  return (result.errors ?? []).some(
    (e) => e.extensions?.code === "UNAUTHENTICATED" && REFRESHABLE.has(String(e.extensions?.reason)),
  );
}

/** Adds the in-memory access token, and remembers which token was sent. */
const authLink = new ApolloLink((operation, forward) => {
  const token = getAccessToken();
  operation.setContext(({ headers = {} }: { headers?: Record<string, string> }) => ({
    sentToken: token,
    headers: token ? { ...headers, Authorization: `Bearer ${token}` } : headers,
  }));
  return forward(operation);
});

/**
 * On an expired or invalid access token: refresh once, then retry the
 * operation once. It works whether the server answers HTTP 200 with the error
 * in the body (Accept: application/json) or HTTP 401 with the same body
 * (Accept: application/graphql-response+json, Apollo Client 4's default,
 * which Apollo parses as a normal result); a 401 without a GraphQL body
 * arrives as a ServerError and is handled too.
 */
const refreshLink = new ApolloLink((operation, forward) => {
  const retry = () => {
    // Concurrent failures share one refresh (refreshSession). A failure that
    // arrives after another operation already refreshed just retries.
    const renewed = getAccessToken() !== operation.getContext().sentToken ? Promise.resolve() : refreshSession();
    return from(renewed).pipe(
      catchError((err) => {
        sessionLost(); // back to the login page
        return throwError(() => err);
      }),
      switchMap(() => {
        operation.setContext({ retried: true });
        return forward(operation);
      }),
    );
  };
  const firstTry = () => !operation.getContext().retried;
  return forward(operation).pipe(
    mergeMap((result) => (needsRefresh(result) && firstTry() ? retry() : of(result))),
    catchError((err) =>
      ServerError.is(err) && err.statusCode === 401 && firstTry() ? retry() : throwError(() => err),
    ),
  );
});

const httpLink = new HttpLink({
  uri: GRAPHQL_URL,
  credentials: "include",
  headers: CSRF_HEADER,
});

/** The message the login page shows when the server ended the session. */
export const SIGNED_OUT = "you were signed out";

// The websocket's URL: GRAPHQL_URL with ws(s):, resolved against this page.
const wsURL = new URL(GRAPHQL_URL, location.href);
wsURL.protocol = wsURL.protocol === "https:" ? "wss:" : "ws:";

// Set by a 4401 close (the access token expired): the next connection
// refreshes first. refreshedFor4401 makes it once: a second 4401 right
// after a refresh means the session cannot be renewed.
let refreshBeforeConnect = false;
/** The close codes of the websocket so far, for the browser test. */
export const closes: number[] = [];
let refreshedFor4401 = false;

/**
 * Subscriptions travel over one websocket (graphql-transport-ws), opened
 * while a subscription runs (lazy). Ironclad authenticates it at
 * connection_init; connectionParams is a function, so every reconnection
 * sends the latest access token.
 */
export const wsClient = createClient({
  url: wsURL.href,
  lazy: true,
  connectionParams: async () => {
    if (refreshBeforeConnect) {
      refreshBeforeConnect = false;
      refreshedFor4401 = true;
      try {
        await refreshSession(); // the single-flight refresh the HTTP link uses
      } catch {
        sessionLost();
        throw new Error("session lost");
      }
    }
    const token = getAccessToken();
    return token ? { Authorization: `Bearer ${token}` } : {};
  },
  retryAttempts: 10,
  // Retry what graphql-ws retries (it always ends the subscriptions on
  // 4401: main.ts subscribes again, and this connection refreshes first),
  // but nothing once signed out, nor after 4403.
  shouldRetry: (e) => getAccessToken() !== null && !(isClose(e) && e.code === 4403),
  on: {
    connected: () => {
      refreshedFor4401 = false;
    },
    closed: (e) => {
      if (!isClose(e)) return;
      closes.push(e.code);
      if (e.code === 4401) {
        if (refreshedFor4401) sessionLost();
        else refreshBeforeConnect = true;
      } else if (e.code === 4403 && getAccessToken() !== null) {
        sessionLost(SIGNED_OUT);
      }
    },
  },
});

function isClose(e: unknown): e is CloseEvent {
  return typeof e === "object" && e !== null && "code" in e;
}

const wsLink = new GraphQLWsLink(wsClient);

const isSubscription = ({ query }: ApolloLink.Operation) => {
  const def = getMainDefinition(query);
  return def.kind === "OperationDefinition" && def.operation === "subscription";
};

export const client = new ApolloClient({
  // Subscriptions over the websocket; everything else over HTTP, where
  // order matters: the refresh link retries through the auth link, which
  // then sends the new token.
  link: ApolloLink.split(isSubscription, wsLink, ApolloLink.from([refreshLink, authLink, httpLink])),
  cache: new InMemoryCache(),
  // Lets the Apollo Client Devtools extension find the client.
  devtools: { enabled: true, name: "ironclad-spa" },
});
