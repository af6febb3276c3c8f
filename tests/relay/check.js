#!/usr/bin/env node
// Self-test of the test relay: starts relay.js on port 0 and checks the
// NIP-01 / NIP-11 / NIP-77 behaviour the C integration tests rely on.
// Prints one line per check and ends with "N passed, N failed"; exit code 0
// when everything passed.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const crypto = require('crypto');
const { pathToFileURL } = require('url');
const { execFile } = require('child_process');
const { finalizeEvent, generateSecretKey, getPublicKey, verifyEvent } = require('nostr-tools/pure');
const { startRelay, Client } = require('./lib');
const { NIP77_JS } = require('./negentropy');

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

// ---- NIP-77 ----

// Waits for the first message at or after inbox index `from` that pred accepts, or a
// NOTICE; resolves with [message, index].
async function nextMessage(c, from, pred, what) {
  const i = await c.waitFor(box => {
    for (let k = from; k < box.length; k++) if (pred(box[k]) || box[k][0] === 'NOTICE') return k + 1;
    return 0;
  }, 20000, what);
  return [c.inbox[i - 1], i];
}

const negReply = subId => m => (m[0] === 'NEG-MSG' || m[0] === 'NEG-ERR') && m[1] === subId;

// nostr-tools' own initiator (nt: its nip77 module, unmodified) against the relay over c:
// NEG-OPEN, NEG-MSG until reconcile() returns null, NEG-CLOSE. Resolves with
// {have, need (sorted), rounds, maxReply (bytes)} or {error: the NEG-ERR / NOTICE message}.
async function negSync(nt, c, subId, filter, items, frameLimit = 60000) {
  const storage = new nt.NegentropyStorageVector();
  for (const [ts, id] of items) storage.insert(ts, id);
  storage.seal();
  const neg = new nt.Negentropy(storage, frameLimit);
  const have = [];
  const need = [];
  let rounds = 0;
  let maxReply = 0;
  let from = c.inbox.length;
  c.send(['NEG-OPEN', subId, filter, neg.initiate()]);
  for (;;) {
    let m;
    [m, from] = await nextMessage(c, from, negReply(subId), `NEG-MSG for ${subId}`);
    if (m[0] !== 'NEG-MSG') return { error: m };
    rounds++;
    maxReply = Math.max(maxReply, m[2].length / 2);
    const next = neg.reconcile(m[2], id => have.push(id), id => need.push(id));
    if (next === null) break;
    c.send(['NEG-MSG', subId, next]);
  }
  c.send(['NEG-CLOSE', subId]);
  return { have: have.sort(), need: need.sort(), rounds, maxReply };
}

// Sends one raw NEG-* message and resolves with the relay's NEG-MSG / NEG-ERR (or NOTICE).
async function negAsk(c, msg) {
  const from = c.inbox.length;
  c.send(msg);
  const [m] = await nextMessage(c, from, negReply(msg[1]), `reply to ${msg[0]} ${msg[1]}`);
  return m;
}

const idsOf = events => events.map(e => e.id).sort();
const same = (got, want) => JSON.stringify(got) === JSON.stringify(want);

// Signs the event templates with sk and publishes them on c, each as soon as it is signed
// (the relay verifies while we sign). Resolves with {events, ok}: ok when every one got OK true.
async function signAndPublish(c, templates, sk) {
  const from = c.inbox.length;
  const events = [];
  for (const t of templates) {
    const e = finalizeEvent(t, sk);
    events.push(e);
    c.send(['EVENT', e]);
    if (events.length % 50 === 0) await new Promise(resolve => setImmediate(resolve));
  }
  let seen = from;
  let count = 0;
  let ok = true;
  await c.waitFor(box => {
    for (; seen < box.length; seen++) {
      if (box[seen][0] !== 'OK') continue;
      count++;
      if (box[seen][2] !== true) ok = false;
    }
    return count >= events.length;
  }, 60000, `${events.length} OKs`);
  return { events, ok };
}

function runNegsync(args) {
  return new Promise(resolve => {
    execFile(process.execPath, [path.join(__dirname, 'negsync.mjs'), ...args], { timeout: 60000 }, (err, stdout, stderr) => {
      let out = null;
      try {
        out = JSON.parse(stdout);
      } catch {}
      resolve({ code: err ? err.code : 0, out, stdout, stderr });
    });
  });
}

async function negentropyChecks() {
  const nt = await import(pathToFileURL(NIP77_JS).href); // nostr-tools' nip77, unmodified
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaypool-neg-'));
  const db = path.join(dir, 'relay.sqlite');
  const relays = [];
  try {
    const relay = await startRelay(['--db', db]);
    relays.push(relay);
    const c = new Client(relay.url);
    await c.open();

    const info = JSON.parse((await fetchNip11(relay.port)).body);
    check(info.supported_nips.includes(77), 'NIP-11 supported_nips lists 77', info.supported_nips);

    // Relay side: 2000 kind-1 events sharing one created_at, 100 kind-1 events with
    // distinct ones, 20 kind-7 events.
    const sk = generateSecretKey();
    const pk = getPublicKey(sk);
    const B = now() - 100000;
    const templates = [
      ...Array.from({ length: 2000 }, (_, i) => ({ kind: 1, created_at: B, tags: [['t', 'neg']], content: `same ${i}` })),
      ...Array.from({ length: 100 }, (_, i) => ({ kind: 1, created_at: B + 1 + i * 7, tags: [['t', 'neg']], content: `varied ${i}` })),
      ...Array.from({ length: 20 }, (_, i) => ({ kind: 7, created_at: B + i, tags: [['t', 'neg']], content: '+' })),
    ];
    const t1 = Date.now();
    const pub = await signAndPublish(c, templates, sk);
    check(pub.ok, `signed and published 2120 events (${((Date.now() - t1) / 1000).toFixed(1)} s)`);
    const sameTs = pub.events.slice(0, 2000);
    const varied = pub.events.slice(2000, 2100);
    const reactions = pub.events.slice(2100);
    const kind1 = [...sameTs, ...varied];

    // Client side: 1990 of the 2000, 60 of the 100, and 50 ids the relay lacks (25 of them
    // with the shared created_at).
    const fakes = Array.from({ length: 50 }, (_, i) => [i < 25 ? B : B + 3 + i * 11, crypto.randomBytes(32).toString('hex')]);
    const local = [...sameTs.slice(10), ...varied.slice(40)].map(e => [e.created_at, e.id]).concat(fakes);
    const wantHave = fakes.map(f => f[1]).sort();
    const wantNeed = idsOf([...sameTs.slice(0, 10), ...varied.slice(0, 40)]);

    let r = await negSync(nt, c, 'n1', { kinds: [1] }, local);
    check(!r.error && same(r.have, wantHave) && same(r.need, wantNeed),
      `NEG-OPEN {kinds:[1]}: have/need are the exact set differences (${r.rounds} round trips)`, r.error || [r.have.length, r.need.length]);

    r = await negSync(nt, c, 'n2', { kinds: [1] }, kind1.map(e => [e.created_at, e.id]));
    check(!r.error && r.have.length === 0 && r.need.length === 0 && r.rounds === 1, 'identical sets: nothing to do, one round trip', r);

    r = await negSync(nt, c, 'n3', { '#t': ['neg'], kinds: [7] }, []);
    check(!r.error && r.have.length === 0 && same(r.need, idsOf(reactions)), 'tag + kind filter, empty local set: need = the 20 kind-7 events', r.error);

    r = await negSync(nt, c, 'n4', { authors: [pk], kinds: [1], since: B + 1, until: B + 50 }, []);
    const inRange = varied.filter(e => e.created_at >= B + 1 && e.created_at <= B + 50);
    check(!r.error && same(r.need, idsOf(inRange)) && r.have.length === 0, `authors/since/until filter: need = the ${inRange.length} events in range`, r.error);

    r = await negSync(nt, c, 'n5', { ids: [varied[0].id, varied[1].id, sameTs[5].id] }, [[varied[1].created_at, varied[1].id], fakes[0]]);
    check(!r.error && same(r.need, idsOf([varied[0], sameTs[5]])) && same(r.have, [fakes[0][1]]), 'ids filter', r);

    // The relay's REQ limit (1000) does not apply to negentropy.
    r = await negSync(nt, c, 'n6', {}, []);
    check(!r.error && r.need.length === 2120, 'empty filter, empty local set: need all 2120 events', r.error || r.need.length);

    // A NEG-OPEN with an id in use replaces the session.
    const emptyStorage = new nt.NegentropyStorageVector();
    emptyStorage.seal();
    const emptyInit = new nt.Negentropy(emptyStorage, 60000).initiate(); // "6100000200"
    let m = await negAsk(c, ['NEG-OPEN', 'rep', { kinds: [7] }, emptyInit]);
    r = await negSync(nt, c, 'rep', { kinds: [1] }, local);
    check(m[0] === 'NEG-MSG' && !r.error && same(r.have, wantHave) && same(r.need, wantNeed), 'a second NEG-OPEN with the same id replaces the session', r.error);

    m = await negAsk(c, ['NEG-MSG', 'nosuch', '61']);
    check(same(m, ['NEG-ERR', 'nosuch', 'closed: unknown subscription']), 'NEG-MSG for an unknown id -> NEG-ERR "closed: unknown subscription"', m);
    m = await negAsk(c, ['NEG-MSG', 'n1', '61']);
    check(same(m, ['NEG-ERR', 'n1', 'closed: unknown subscription']), 'NEG-CLOSE frees the session', m);

    m = await negAsk(c, ['NEG-OPEN', 'v2', { kinds: [1] }, '62' + emptyInit.slice(2)]);
    check(same(m, ['NEG-MSG', 'v2', '61']), 'protocol version 0x62 -> NEG-MSG "61"', m);
    m = await negAsk(c, ['NEG-OPEN', 'bad1', { kinds: [1] }, 'xyz']);
    check(m[0] === 'NEG-ERR' && /^error: /.test(m[2]), 'NEG-OPEN with a non-hex message -> NEG-ERR "error: ..."', m);
    m = await negAsk(c, ['NEG-OPEN', 'bad2', { kinds: [1] }, '50' + emptyInit.slice(2)]);
    check(m[0] === 'NEG-ERR' && /^error: /.test(m[2]), 'bad protocol version byte -> NEG-ERR "error: ..."', m);
    m = await negAsk(c, ['NEG-OPEN', 'bad3', { kinds: 'one' }, emptyInit]);
    check(m[0] === 'NEG-ERR' && /^error: /.test(m[2]), 'NEG-OPEN with a bad filter -> NEG-ERR "error: ..."', m);
    m = await negAsk(c, ['NEG-OPEN', 'bad4', { kinds: [1] }, '6100000201']);
    check(m[0] === 'NEG-ERR' && /^error: /.test(m[2]), 'truncated negentropy message -> NEG-ERR "error: ..."', m);

    // negsync.mjs, the command-line initiator.
    const itemsFile = path.join(dir, 'items.json');
    fs.writeFileSync(itemsFile, JSON.stringify(local));
    let ns = await runNegsync(['--url', relay.url, '--filter', '{"kinds":[1]}', '--items', itemsFile]);
    check(ns.code === 0 && ns.out && same(ns.out.have, wantHave) && same(ns.out.need, wantNeed) &&
      ns.out.round_trips >= 1 && ns.out.bytes_sent > 0 && ns.out.bytes_received > 0,
      'negsync.mjs prints the exact have/need and exits 0', ns.out ? { ...ns.out, have: ns.out.have && ns.out.have.length, need: ns.out.need && ns.out.need.length } : ns);
    ns = await runNegsync(['--url', relay.url, '--filter', '{"kinds":"one"}', '--items', itemsFile]);
    check(ns.code === 1 && ns.out && /^NEG-ERR/.test(ns.out.error), 'negsync.mjs: NEG-ERR -> {"error"} and exit 1', ns.stdout);
    await c.close();

    // The same database behind a relay with the smallest frame size limit.
    const small = await startRelay(['--db', db, '--neg-frame-limit', '4096']);
    relays.push(small);
    const cs = new Client(small.url);
    await cs.open();
    r = await negSync(nt, cs, 's1', { kinds: [1] }, local, 4096);
    check(!r.error && same(r.have, wantHave) && same(r.need, wantNeed) && r.rounds >= 3 && r.maxReply <= 4096,
      `--neg-frame-limit 4096: exact have/need in ${r.rounds} round trips, replies <= 4096 bytes`, r.error || [r.rounds, r.maxReply]);
    r = await negSync(nt, cs, 's2', {}, [], 4096);
    check(!r.error && r.need.length === 2120 && r.rounds >= 10 && r.maxReply <= 4096,
      `--neg-frame-limit 4096, empty local set: need all 2120 in ${r.rounds} round trips`, r.error || [r.need.length, r.rounds, r.maxReply]);
    await cs.close();

    // Fault injection and the record limit.
    const faulty = await startRelay(['--db', db, '--neg-err-after', '1', '--neg-max-records', '500']);
    relays.push(faulty);
    const cf = new Client(faulty.url);
    await cf.open();
    r = await negSync(nt, cf, 'f1', { kinds: [1] }, local);
    check(r.error && same(r.error, ['NEG-ERR', 'f1', 'blocked: too many query results']), '--neg-max-records 500: NEG-ERR "blocked: too many query results"', r.error);
    r = await negSync(nt, cf, 'f2', { kinds: [1], since: B + 1 }, local);
    check(r.error && same(r.error, ['NEG-ERR', 'f2', 'error: injected failure']), '--neg-err-after 1: the first NEG-MSG gets NEG-ERR "error: injected failure"', r.error || r);
    m = await negAsk(cf, ['NEG-MSG', 'f2', '61']);
    check(same(m, ['NEG-ERR', 'f2', 'closed: unknown subscription']), '--neg-err-after drops the session', m);
    await cf.close();

    // --no-negentropy: the validator's NOTICE, as before NIP-77.
    const off = await startRelay(['--no-negentropy']);
    relays.push(off);
    const co = new Client(off.url);
    await co.open();
    m = await negAsk(co, ['NEG-OPEN', 'x', { kinds: [1] }, emptyInit]);
    check(m[0] === 'NOTICE' && /^invalid/.test(m[1]), '--no-negentropy: NEG-OPEN -> NOTICE "invalid: ..."', m);
    const offInfo = JSON.parse((await fetchNip11(off.port)).body);
    check(!offInfo.supported_nips.includes(77), '--no-negentropy: NIP-11 does not list 77', offInfo.supported_nips);
    await co.close();
  } finally {
    for (const r of relays) await r.stop('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

(async () => {
  const t0 = Date.now();
  try {
    await mainChecks();
    await fileDbChecks();
    await negentropyChecks();
  } catch (err) {
    check(false, `unexpected error: ${err && err.stack ? err.stack : err}`);
  }
  console.log(`# ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
