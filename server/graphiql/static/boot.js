// Starts GraphiQL against SeaChat's /graphql. It lives in its own file, not
// inline in the page, so the Content-Security-Policy can forbid inline script.
//
// The token goes into GraphiQL's Headers editor, opened at start with a
// placeholder. The headers, and all of GraphiQL's state (tabs, history), are
// kept in sessionStorage rather than GraphiQL's default localStorage: the
// token then survives reloads but not the tab, and is not left on disk for
// any later script of this origin.
(() => {
  'use strict';

  const headersKey = 'seachat.graphiql.headers';
  const placeholder = JSON.stringify({ Authorization: 'Bearer <paste your token here>' }, null, 2);
  const noToken = 'Paste your SeaChat API token into Headers (below the query editor): ' +
    '{"Authorization": "Bearer sct_…"}. The schema, docs and autocomplete load once it is there.';

  // bearer returns the token of an Authorization header in headers (an
  // object or the editor's JSON text), or '' when there is none or it is the
  // placeholder.
  function bearer(headers) {
    let h = headers;
    if (typeof h === 'string') {
      try { h = JSON.parse(h); } catch { return ''; }
    }
    if (!h || typeof h !== 'object') return '';
    const name = Object.keys(h).find((k) => k.toLowerCase() === 'authorization');
    const m = /^Bearer\s+(\S+)$/i.exec(name && typeof h[name] === 'string' ? h[name].trim() : '');
    return m && !m[1].startsWith('<') ? m[1] : '';
  }

  const http = new URL('/graphql', location.href);
  const ws = new URL(http);
  ws.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // Subscriptions use graphql-ws (bundled in GraphiQL) over
  // graphql-transport-ws; its connection_init payload carries the headers,
  // so the server reads the token from "Authorization" there.
  const send = GraphiQL.createFetcher({ url: http.href, subscriptionUrl: ws.href });

  // fetcher sends nothing without a real token: the placeholder would only
  // earn an error from the server. A new fetcher per token makes GraphiQL
  // fetch the schema again.
  const fetcher = () => (params, opts) => bearer(opts && opts.headers)
    ? send(params, opts)
    : Promise.resolve({ errors: [{ message: noToken }] });

  // GraphiQL's own header persistence is off: it would write the token into
  // its tab state in ways that do not survive a reload reliably. The headers
  // text is kept here instead, and handed back to GraphiQL at start.
  const saved = sessionStorage.getItem(headersKey) || placeholder;
  const root = ReactDOM.createRoot(document.getElementById('graphiql'));
  let token = bearer(saved);
  let timer;
  let props = {
    fetcher: fetcher(),
    storage: sessionStorage, // its history keeps request headers verbatim
    shouldPersistHeaders: false,
    headers: saved,
    defaultHeaders: saved, // for new tabs
    defaultEditorToolsVisibility: 'headers',
    defaultQuery: '# Paste your token under Headers below, then run this with Ctrl-Enter.\n' +
      '{\n  viewer { tokenName role workspace { name } }\n  agents { id name }\n}\n',
    onEditHeaders(text) {
      sessionStorage.setItem(headersKey, text);
      clearTimeout(timer);
      timer = setTimeout(() => { // wait for the typing to stop
        const t = bearer(text);
        if (t === token) return;
        token = t;
        props = { ...props, fetcher: fetcher(), defaultHeaders: text };
        render();
      }, 300);
    },
  };

  function render() {
    root.render(React.createElement(GraphiQL, props));
  }
  render();
})();
