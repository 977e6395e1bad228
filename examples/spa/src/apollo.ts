import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, ServerError } from "@apollo/client";
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

export const client = new ApolloClient({
  // Order matters: the refresh link retries through the auth link, which
  // then sends the new token.
  link: ApolloLink.from([refreshLink, authLink, httpLink]),
  cache: new InMemoryCache(),
  // Lets the Apollo Client Devtools extension find the client.
  devtools: { enabled: true, name: "ironclad-spa" },
});
