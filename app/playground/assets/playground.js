// Starts GraphiQL on the playground page. It runs after the React, ReactDOM
// and GraphiQL builds, which define those globals, and reads its settings
// from the page's JSON block #playground-config, so that the page needs no
// inline script and its Content-Security-Policy can forbid every one.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("playground-config").textContent);

  // GraphiQL's dialogs lock scrolling with a <style> element they create;
  // this global is where they look for the nonce the CSP admits it by.
  window.__webpack_nonce__ = config.styleNonce;

  var fetcher = GraphiQL.createFetcher({
    url: new URL(config.endpoint, window.location.href).href,
    // The CSRF header: with it, operations may use the refresh-token cookie.
    headers: config.fetcherHeaders,
  });

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: config.defaultQuery,
      // Open on the Headers tab, where the access token goes.
      defaultEditorToolsVisibility: "headers",
      // Keep the access token out of localStorage: a reload forgets it.
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    }),
  );
})();
