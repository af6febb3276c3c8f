#!/usr/bin/env node
// Measures the test relay (not a test): publish throughput, per-REQ result
// caps, and its answers to duplicates, CLOSE, many filters, too many
// subscriptions and too-large messages. Prints a JSON-ish report.
// Usage: node probe.js [N_EVENTS=1000] [relay.js args...]
'use strict';

const { finalizeEvent, generateSecretKey } = require('nostr-tools/pure');
const { startRelay, Client } = require('./lib');

const N = Number(process.argv[2] || 1000);
const relayArgs = process.argv.slice(3);
const now = () => Math.floor(Date.now() / 1000);
const report = (k, v) => console.log(`${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);

(async () => {
  const relay = await startRelay(relayArgs);
  const sk = generateSecretKey();

  // 1. Throughput: N events pipelined on one connection.
  const t0s = Date.now();
  const evs = [];
  const base = now() - N - 10;
  for (let i = 0; i < N; i++) {
    evs.push(finalizeEvent({ kind: 1, created_at: base + i, tags: [['t', 'probe']], content: `probe ${i}` }, sk));
  }
  report('sign_ms', Date.now() - t0s);
  const c = new Client(relay.url);
  await c.open();
  const t0 = process.hrtime.bigint();
  for (const e of evs) c.send(['EVENT', e]);
  await c.waitFor(box => box.filter(m => m[0] === 'OK').length >= N, 120000, 'all OKs');
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const oks = c.inbox.filter(m => m[0] === 'OK');
  report('publish', { events: N, ms: Math.round(ms), events_per_s: Math.round((N * 1000) / ms), all_true: oks.every(m => m[2] === true) });
  const inOrder = oks.every((m, i) => m[1] === evs[i].id);
  report('ok_replies_in_send_order', inOrder);

  // 2. Result caps.
  let r = await c.req('nolimit', [{ kinds: [1] }]);
  report('req_without_limit_returns', r.events.length);
  r = await c.req('l10000', [{ kinds: [1], limit: 10000 }]);
  report('req_limit_10000_returns', r.events.length);
  r = await c.req('l0', [{ kinds: [1], limit: 0 }]);
  report('req_limit_0_returns', { events: r.events.length, end: r.end });
  r = await c.req('two', [{ kinds: [1], limit: 1000 }, { '#t': ['probe'], limit: 1000 }]);
  report('req_two_overlapping_filters_limit_1000_each', r.events.length);
  const tq = Date.now();
  r = await c.req('timed', [{ kinds: [1], limit: 1000 }]);
  report('req_1000_events_ms', Date.now() - tq);

  // 3. Duplicates (sequential and concurrent).
  let start = c.inbox.length;
  c.send(['EVENT', evs[0]]);
  let ok = await c.waitFor(box => box.slice(start).find(m => m[0] === 'OK'), 5000, 'dup OK');
  report('duplicate_answer', ok);
  const fresh = finalizeEvent({ kind: 1, created_at: now(), tags: [], content: 'twice' }, sk);
  start = c.inbox.length;
  c.send(['EVENT', fresh]);
  c.send(['EVENT', fresh]);
  await c.waitFor(box => box.slice(start).filter(m => m[0] === 'OK').length >= 2, 5000, 'two OKs');
  report('same_event_twice_back_to_back', c.inbox.slice(start).filter(m => m[0] === 'OK'));
  // A stored id with a broken signature.
  start = c.inbox.length;
  c.send(['EVENT', { ...evs[1], sig: evs[2].sig }]);
  ok = await c.waitFor(box => box.slice(start).find(m => m[0] === 'OK'), 5000, 'OK');
  report('stored_id_with_bad_sig', ok);

  // 4. CLOSE of an open and of an unknown subscription.
  start = c.inbox.length;
  c.send(['CLOSE', 'nolimit']);
  c.send(['CLOSE', 'never-opened']);
  r = await c.req('ping', [{ ids: [evs[0].id] }]);
  report('close_replies', c.inbox.slice(start).filter(m => m[0] !== 'EVENT' && m[0] !== 'EOSE'));

  // 5. REQ with many filters.
  for (const n of [10, 100, 1000]) {
    const filters = [];
    for (let i = 0; i < n; i++) filters.push({ ids: [evs[i % N].id] });
    const tf = Date.now();
    r = await c.req(`many${n}`, filters, 60000);
    report(`req_${n}_filters`, { end: r.end, events: r.events.length, ms: Date.now() - tf });
  }
  // Too many kinds / ids in one filter (validator limits).
  r = await c.req('kinds21', [{ kinds: Array.from({ length: 21 }, (_, i) => i) }]);
  report('req_21_kinds', r.end);
  r = await c.req('', [{}]);
  report('req_empty_subid', r.end);
  start = c.inbox.length;
  c.send(['REQ', 's'.repeat(129), {}]);
  r = await c.waitFor(box => box.slice(start).find(m => m[0] !== 'EVENT'), 5000, 'answer');
  report('req_subid_129_chars', r);

  // 6. More subscriptions than allowed (default 20).
  const c3 = new Client(relay.url);
  await c3.open();
  for (let i = 0; i < 25; i++) await c3.req(`sub${i}`, [{ kinds: [30000 + i] }]);
  report('25_reqs_on_one_connection', c3.inbox.filter(m => m[0] !== 'EOSE'));
  // Which ones still deliver? Publish one event matching each.
  const hits = [];
  for (let i = 0; i < 25; i++) {
    const e = finalizeEvent({ kind: 30000 + i, created_at: now(), tags: [['d', 'x']], content: '' }, sk);
    c.send(['EVENT', e]);
    await c.waitOk(e.id);
  }
  await new Promise(res => setTimeout(res, 300));
  for (const m of c3.inbox) if (m[0] === 'EVENT') hits.push(m[1]);
  report('subs_still_live_after_25', hits);
  await c3.close();

  // 7. Too-large messages.
  const big = finalizeEvent({ kind: 1, created_at: now(), tags: [], content: 'x'.repeat(110 * 1024) }, sk);
  start = c.inbox.length;
  c.send(['EVENT', big]);
  ok = await c.waitFor(box => box.slice(start).find(m => m[0] === 'OK'), 5000, 'OK');
  report('content_110KiB_in_120KiB_message', ok);
  const huge = finalizeEvent({ kind: 1, created_at: now(), tags: [], content: 'x'.repeat(200 * 1024) }, sk);
  c.send(['EVENT', huge]);
  try {
    await c.waitFor(box => box.slice(start).find(m => m[0] === 'OK' && m[1] === huge.id), 5000, 'OK');
    report('message_200KiB', 'answered');
  } catch (e) {
    report('message_200KiB', { closed: c.closed, error: e.message });
  }

  const res = await relay.stop();
  report('exit', res);
})().catch(err => {
  console.error(err);
  process.exit(1);
});
