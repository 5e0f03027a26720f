// webHref decides which attachment URLs the console renders as links: only
// absolute http(s) ones. It needs no browser: node runs it directly.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { webHref } from '../static/js/dom.js';

describe('webHref', () => {
  for (const [url, want] of [
    ['https://scontent.xx.fbcdn.net/v/1.jpg?a=b', 'https://scontent.xx.fbcdn.net/v/1.jpg?a=b'],
    ['http://cdn.example/2.png', 'http://cdn.example/2.png'],
    ['HTTPS://CDN.example/3.png', 'https://cdn.example/3.png'],
    ['javascript:alert(document.domain)', null],
    ['JavaScript:alert(1)', null],
    [' javascript:alert(1)', null],
    ['java\tscript:alert(1)', null],
    ['data:text/html;base64,PHNjcmlwdD4=', null],
    ['vbscript:msgbox(1)', null],
    ['/relative/path', null],
    ['//evil.example/x', null],
    ['', null],
    [null, null],
    [undefined, null],
  ]) {
    it(`${JSON.stringify(url)} → ${want}`, () => assert.equal(webHref(url), want));
  }
});
