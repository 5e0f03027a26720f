// SeaChat as GraphQL clients use it: the graphql-http audit of the GraphQL
// over HTTP spec, Apollo Client 3 and 4, urql, and graphql-ws over a
// websocket, each against a real bin/seachat (harness.mjs).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { auditServer } from 'graphql-http';
import { createClient as createWSClient } from 'graphql-ws';
import WebSocket from 'ws';
import { Client as UrqlClient, fetchExchange } from '@urql/core';
import * as apollo4 from '@apollo/client';
import * as apollo3 from 'apollo3/core/index.js';
import { start } from './harness.mjs';

let app;
let url;
let authFetch;

before(async () => {
  app = await start();
  url = `${app.base}/graphql`;
  authFetch = (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${app.adminToken}`);
    return fetch(input, { ...init, headers });
  };
});
after(async () => { await app?.stop(); });

test('graphql-http audit: every MUST, SHOULD and MAY holds', async () => {
  const results = await auditServer({ url, fetchFn: authFetch });
  const problems = results.filter((r) => r.status !== 'ok')
    .map((r) => `${r.status.toUpperCase()} ${r.id} ${r.name}: ${r.reason}`);
  console.log(`graphql-http audit: ${results.length} audits, ${results.length - problems.length} ok`);
  assert.deepEqual(problems, [], problems.join('\n'));
});

test('Apollo Client 3 and 4 read validation errors as GraphQL errors', async () => {
  const query = 'query { agents { id nope } }';
  const c3 = new apollo3.ApolloClient({
    link: new apollo3.HttpLink({ uri: url, fetch: authFetch }), cache: new apollo3.InMemoryCache(),
  });
  const r3 = await c3.query({ query: apollo3.gql(query), errorPolicy: 'all' });
  assert.equal(r3.errors?.[0]?.extensions?.code, 'GRAPHQL_VALIDATION_FAILED');

  const c4 = new apollo4.ApolloClient({
    link: new apollo4.HttpLink({ uri: url, fetch: authFetch }), cache: new apollo4.InMemoryCache(),
  });
  const r4 = await c4.query({ query: apollo4.gql(query), errorPolicy: 'all' });
  assert.ok(apollo4.CombinedGraphQLErrors.is(r4.error), `not a GraphQL error: ${r4.error}`);
  assert.equal(r4.error.errors[0].extensions.code, 'GRAPHQL_VALIDATION_FAILED');

  const ok = await c4.query({ query: apollo4.gql('query { viewer { tokenName } }') });
  assert.equal(ok.data.viewer.tokenName, 'admin');
});

test('urql queries and mutates', async () => {
  // urql aborts a finished operation's fetch; without the signal that abort
  // cannot outlive the test as an unhandled rejection.
  const client = new UrqlClient({
    url, exchanges: [fetchExchange], preferGetMethod: false, requestPolicy: 'network-only',
    fetch: (input, init) => authFetch(input, { ...init, signal: undefined }),
  });
  const created = await client.mutation('mutation { createAgent(input: {name: "urql"}) { id name } }', {}).toPromise();
  assert.equal(created.error, undefined);
  assert.equal(created.data.createAgent.name, 'urql');
  const agents = await client.query('query { agents { name } }', {}).toPromise();
  assert.ok(agents.data.agents.some((a) => a.name === 'urql'));
});

test('graphql-ws: a mutation, a query and a subscription over one websocket', async () => {
  const client = createWSClient({
    url: url.replace('http', 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${app.adminToken}` },
    retryAttempts: 0,
  });
  try {
    const once = (query) => new Promise((resolve, reject) => {
      let result;
      client.subscribe({ query }, { next: (r) => { result = r; }, error: reject, complete: () => resolve(result) });
    });
    const created = await once('mutation { createAgent(input: {name: "Over a websocket"}) { id } }');
    assert.equal(created.errors, undefined);
    const agentId = created.data.createAgent.id;

    const updates = [];
    const ready = new Promise((resolve, reject) => {
      client.subscribe({ query: `subscription { knowledgeSourceUpdated(agentId: "${agentId}") { title status } }` }, {
        next: (r) => { updates.push(r.data.knowledgeSourceUpdated); if (r.data.knowledgeSourceUpdated.status === 'READY') resolve(); },
        error: reject,
        complete: () => {},
      });
    });
    await new Promise((r) => setTimeout(r, 300)); // the subscription is registered
    const added = await once(`mutation { addKnowledgeText(agentId: "${agentId}", title: "Hours", text: "We open at 9.") { id } }`);
    assert.equal(added.errors, undefined);
    await ready;
    assert.equal(updates.at(-1).title, 'Hours');

    const failed = await once('mutation { createAgent(input: {name: ""}) { id } }');
    assert.equal(failed.errors[0].extensions.code, 'BAD_USER_INPUT');
  } finally {
    await client.dispose();
  }
});
