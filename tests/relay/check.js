#!/usr/bin/env node
// Self-test of the test relay: starts relay.js on port 0 and checks the
// NIP-01 / NIP-11 behaviour the C integration tests rely on.
// Prints one line per check and ends with "N passed, N failed"; exit code 0
// when everything passed.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const { finalizeEvent, generateSecretKey, getPublicKey, verifyEvent } = require('nostr-tools/pure');
const { startRelay, Client } = require('./lib');

let passed = 0;
let failed = 0;
function check(cond, what, detail) {
  if (cond) {
    passed++;
    console.log(`ok - ${what}`);
  } else {
    failed++;
    console.log(`not ok - ${what}${detail !== undefined ? ': ' + JSON.stringify(detail) : ''}`);
  }
}

function fetchNip11(port, accept = 'application/nostr+json') {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { Accept: accept } }, res => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', c => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('NIP-11 request timed out')));
  });
}

const now = () => Math.floor(Date.now() / 1000);

async function mainChecks() {
  const relay = await startRelay(['--port', '0']);
  check(relay.port > 0, `relay printed LISTENING ${relay.port}`);

  const sk = generateSecretKey();
  const pk = getPublicKey(sk);
  const c = new Client(relay.url);
  await c.open();
  check(true, 'WebSocket connected');

  // Publish a few events.
  const base = now() - 100;
  const events = [0, 1, 2].map(i =>
    finalizeEvent({ kind: 1, created_at: base + i, tags: [['t', 'relaypool']], content: `hello ${i}` }, sk),
  );
  check(events.every(e => verifyEvent(e)), 'nostr-tools signs valid events');
  for (const e of events) c.send(['EVENT', e]);
  for (const e of events) {
    const ok = await c.waitOk(e.id);
    check(ok[2] === true && ok.length === 4, `OK true for event ${e.id.slice(0, 8)}`, ok);
  }

  // Invalid signature: a valid-looking sig for a different message.
  const other = finalizeEvent({ kind: 1, created_at: now(), tags: [], content: 'other' }, sk);
  const badSig = { ...finalizeEvent({ kind: 1, created_at: now(), tags: [], content: 'bad sig' }, sk) };
  badSig.sig = other.sig;
  c.send(['EVENT', badSig]);
  let ok = await c.waitOk(badSig.id);
  check(ok[2] === false && /^invalid:/.test(ok[3]), 'bad signature -> OK false "invalid: ..."', ok);

  // Wrong id.
  const badId = { ...finalizeEvent({ kind: 1, created_at: now(), tags: [], content: 'bad id' }, sk) };
  badId.content = 'tampered';
  c.send(['EVENT', badId]);
  ok = await c.waitOk(badId.id);
  check(ok[2] === false && /^invalid:/.test(ok[3]), 'wrong id -> OK false "invalid: ..."', ok);

  // Schema error that still has a readable id.
  const badShape = { ...finalizeEvent({ kind: 1, created_at: now(), tags: [], content: 'x' }, sk), kind: 'one' };
  c.send(['EVENT', badShape]);
  ok = await c.waitOk(badShape.id);
  check(ok[2] === false && /^invalid:/.test(ok[3]), 'malformed event -> OK false "invalid: ..."', ok);

  // Not JSON -> NOTICE.
  let start = c.inbox.length;
  c.send('this is not json');
  const notice = await c.waitFor(box => box.slice(start).find(m => m[0] === 'NOTICE'), 5000, 'NOTICE');
  check(/^invalid:/.test(notice[1]), 'garbage -> NOTICE "invalid: ..."', notice);

  // REQ returns the stored events (newest first) then EOSE.
  const r = await c.req('s1', [{ authors: [pk] }]);
  check(r.end[0] === 'EOSE', 'REQ ends with EOSE', r.end);
  check(
    r.events.length === 3 && r.events.map(e => e.id).join() === [...events].reverse().map(e => e.id).join(),
    'REQ returns the 3 valid events, newest first',
    r.events.map(e => e.content),
  );
  check(r.events.every(e => verifyEvent({ ...e })), 'returned events verify');

  // Duplicate publish.
  start = c.inbox.length;
  c.send(['EVENT', events[0]]);
  ok = await c.waitFor(box => box.slice(start).find(m => m[0] === 'OK' && m[1] === events[0].id), 5000, 'dup OK');
  check(ok[2] === true && /^duplicate:/.test(ok[3]), 'duplicate -> OK true "duplicate: ..."', ok);

  // Live subscription s1 receives a new event published on another connection.
  const c2 = new Client(relay.url);
  await c2.open();
  const live = finalizeEvent({ kind: 1, created_at: now(), tags: [], content: 'live' }, sk);
  c2.send(['EVENT', live]);
  ok = await c2.waitOk(live.id);
  check(ok[2] === true, 'publish on second connection', ok);
  const got = await c.waitFor(box => box.find(m => m[0] === 'EVENT' && m[1] === 's1' && m[2].id === live.id), 5000, 'live EVENT');
  check(!!got, 'open subscription receives the new event after EOSE');

  // CLOSE: no answer; the subscription stops receiving.
  start = c.inbox.length;
  c.send(['CLOSE', 's1']);
  // Messages of one connection are handled in order: once this REQ is answered, the CLOSE
  // has been processed (publishing on c2 before that would race with it).
  await c.req('sync', [{ limit: 0 }]);
  const after = finalizeEvent({ kind: 1, created_at: now(), tags: [], content: 'after close' }, sk);
  c2.send(['EVENT', after]);
  await c2.waitOk(after.id);
  // A REQ round trip on c proves the CLOSE was processed and nothing else came.
  const r2 = await c.req('s2', [{ ids: [after.id] }]);
  check(r2.events.length === 1, 'REQ by id finds the new event');
  const stray = c.inbox.slice(start).filter(m => m[1] === 's1');
  check(stray.length === 0, 'CLOSE gets no reply and stops delivery', stray);

  // Filter by tag and limit.
  const r3 = await c.req('s3', [{ '#t': ['relaypool'], limit: 2 }]);
  check(r3.events.length === 2 && r3.events[0].id === events[2].id, 'tag filter with limit 2', r3.events.map(e => e.content));

  // NIP-11.
  const info = await fetchNip11(relay.port);
  let doc = null;
  try {
    doc = JSON.parse(info.body);
  } catch {}
  check(info.status === 200 && /application\/nostr\+json/.test(info.type || ''), 'NIP-11 answered with application/nostr+json', info.type);
  check(
    doc && doc.name && doc.description && Array.isArray(doc.supported_nips) && doc.supported_nips.includes(11) &&
      doc.software && doc.version && doc.limitation && doc.limitation.max_message_length > 0,
    'NIP-11 document has name, description, supported_nips, software, version, limitation',
    doc,
  );
  const plain = await fetchNip11(relay.port, 'text/html');
  check(plain.status === 200 && !/nostr\+json/.test(plain.type), 'plain GET is not NIP-11');

  await c.close();
  await c2.close();

  const res = await relay.stop('SIGTERM');
  check(res.code === 0 && res.signal === null, 'SIGTERM -> exit code 0', res);
  check(relay.stdout() === `LISTENING ${relay.port}\n`, 'stdout is exactly one LISTENING line', relay.stdout());
}

// A file database keeps events across restarts; SIGINT also exits 0, and
// SIGTERM with a client still connected too.
async function fileDbChecks() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaypool-relay-'));
  const db = path.join(dir, 'relay.sqlite');
  try {
    const sk = generateSecretKey();
    const e = finalizeEvent({ kind: 1, created_at: now(), tags: [], content: 'persisted' }, sk);

    let relay = await startRelay(['--db', db]);
    let c = new Client(relay.url);
    await c.open();
    c.send(['EVENT', e]);
    const ok = await c.waitOk(e.id);
    check(ok[2] === true, 'file db: publish', ok);
    let res = await relay.stop('SIGINT');
    check(res.code === 0, 'SIGINT with a connected client -> exit code 0', res);
    check(c.closed && (c.closed.code === 1001 || c.closed.code === 1006), 'client saw the connection close', c.closed);

    relay = await startRelay(['--db', db, '--port', '0']);
    c = new Client(relay.url);
    await c.open();
    const r = await c.req('p', [{ ids: [e.id] }]);
    check(r.events.length === 1 && r.events[0].content === 'persisted', 'file db: event survives a restart');
    await c.close();
    res = await relay.stop('SIGTERM');
    check(res.code === 0, 'file db: SIGTERM -> exit code 0', res);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

(async () => {
  const t0 = Date.now();
  try {
    await mainChecks();
    await fileDbChecks();
  } catch (err) {
    check(false, `unexpected error: ${err && err.stack ? err.stack : err}`);
  }
  console.log(`# ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
