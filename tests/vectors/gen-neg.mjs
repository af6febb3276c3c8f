// gen-neg.mjs - NIP-77 (negentropy protocol V1) test vectors for our C implementation.
//
//   node tests/vectors/gen-neg.mjs > tests/vectors/negentropy.json
//
// Needs tests/relay/node_modules (tests/relay/install.sh): nostr-tools 2.25.2's nip77.js,
// loaded through tests/relay/negentropy.js. Deterministic: ids and timestamps come from a
// seeded mulberry32 PRNG (never Math.random), so re-running reproduces the file byte for byte.
//
// Output (one JSON object):
//   "comment":      how the file was made.
//   "fingerprints": [{"ids": [hex64...], "fingerprint": hex32}]: nostr-tools'
//                   NegentropyStorageVector.fingerprint over all the ids (sum of the ids as
//                   256-bit little-endian numbers mod 2^256, then the first 16 bytes of
//                   sha256(sum || varint(count))). Timestamps do not matter.
//   "sessions":     [{"name", "frame_size_limit", "client": [[ts, hex64]...], "relay": [...],
//                     "messages": [hex...], "have": [hex64 sorted], "need": [hex64 sorted]}]:
//                   messages[0] is the initiator's initiate() over "client", messages[1] the
//                   responder's reply over "relay", messages[2] the initiator's next
//                   reconcile() output, ...; the list ends with the responder message after
//                   which the initiator's reconcile() returned null. Both sides use
//                   frame_size_limit. have = ids only in "client", need = ids only in "relay".
//
// The initiator is nostr-tools' Negentropy; the responder is NegentropyResponder from
// negentropy.js (written from the reference C++ reconcileAux). Both code timestamps with exact
// varints (nostr-tools' own use 32-bit operators and garble timestamps >= 2^31); for every
// session whose timestamps are all below 2^31 the generator checks that the unmodified
// nostr-tools initiator produces the very same messages. It also asserts that have/need equal
// the true set differences and that no message exceeds frame_size_limit, and exits 1 otherwise.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const { loadNegentropy } = require(path.join(here, '..', 'relay', 'negentropy.js'));
const { Negentropy, NegentropyResponder, NegentropyStorageVector, NostrToolsNegentropy } = await loadNegentropy();

function die(msg) {
  process.stderr.write(`gen-neg.mjs: ${msg}\n`);
  process.exit(1);
}

// mulberry32: 32-bit state, one uint32 per call.
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}
const rnd = mulberry32(0x4e495037); // "NIP7"
const randInt = n => rnd() % n; // n <= 2^32; the bias does not matter here
const randId = () => {
  let s = '';
  for (let i = 0; i < 8; i++) s += rnd().toString(16).padStart(8, '0');
  return s;
};
// A Fisher-Yates shuffle driven by the PRNG.
function shuffle(a) {
  for (let i = a.length - 1; i > 0; i--) {
    const j = randInt(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

function storageOf(items) {
  const s = new NegentropyStorageVector();
  for (const [ts, id] of items) s.insert(ts, id);
  s.seal();
  return s;
}

// ---- fingerprints ----
const fingerprints = [];
function addFingerprint(ids) {
  const s = storageOf(ids.map((id, i) => [i, id]));
  fingerprints.push({ ids, fingerprint: Buffer.from(s.fingerprint(0, s.size())).toString('hex') });
}
const ff = 'ff'.repeat(32);
const one = '01' + '00'.repeat(31); // 1 as a little-endian 256-bit number
addFingerprint([]);
addFingerprint([randId()]);
addFingerprint(['00'.repeat(32)]);
addFingerprint([ff]);
addFingerprint([ff, one]); // 2^256 - 1 + 1: the carry runs through all 32 bytes, sum 0
addFingerprint([ff, ff, ff]); // sum 2^256 - 3 after two wrap-arounds
addFingerprint(['ffffffff' + '00'.repeat(28), one]); // carry from the first 32-bit word into the second
addFingerprint(['00'.repeat(28) + 'ffffffff', '00'.repeat(28) + '01000000']); // carry out of the top word is dropped
addFingerprint(['ff'.repeat(31) + '7f', 'ff'.repeat(31) + '7f', one]);
addFingerprint(Array.from({ length: 100 }, randId));

// ---- sessions ----
const T = 1700000000; // a realistic created_at
const S = 100000; // a shorter base for the big sessions, to keep the file small
const BIG_TS = [0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, 2 ** 40 + 123, 2 ** 53 - 2];

function run(name, frameSizeLimit, client, relay) {
  const initiator = new Negentropy(storageOf(client), frameSizeLimit);
  const responder = new NegentropyResponder(storageOf(relay), frameSizeLimit);
  const messages = [];
  const have = [];
  const need = [];
  let msg = initiator.initiate();
  for (;;) {
    messages.push(msg);
    const reply = responder.reconcile(msg);
    messages.push(reply);
    msg = initiator.reconcile(reply, id => have.push(id), id => need.push(id));
    if (msg === null) break;
    if (messages.length > 10000) die(`${name}: no end after ${messages.length} messages`);
  }
  have.sort();
  need.sort();

  const c = new Set(client.map(x => x[1]));
  const r = new Set(relay.map(x => x[1]));
  const wantHave = [...c].filter(id => !r.has(id)).sort();
  const wantNeed = [...r].filter(id => !c.has(id)).sort();
  if (have.join() !== wantHave.join()) die(`${name}: have differs from client \\ relay`);
  if (need.join() !== wantNeed.join()) die(`${name}: need differs from relay \\ client`);
  for (const m of messages) if (m.length / 2 > frameSizeLimit) die(`${name}: a message of ${m.length / 2} bytes exceeds ${frameSizeLimit}`);

  // The unmodified nostr-tools initiator must agree wherever its varints are exact.
  if ([...client, ...relay].every(([ts]) => ts < 2 ** 31 - 1)) {
    const stock = new NostrToolsNegentropy(storageOf(client), frameSizeLimit);
    if (stock.initiate() !== messages[0]) die(`${name}: stock nostr-tools initiate() differs`);
    for (let i = 1; i < messages.length; i += 2) {
      const out = stock.reconcile(messages[i]);
      if (out !== (i + 1 < messages.length ? messages[i + 1] : null)) die(`${name}: stock nostr-tools reconcile() differs at message ${i + 1}`);
    }
  }
  const sortItems = a => [...a].sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0));
  return { name, frame_size_limit: frameSizeLimit, client: sortItems(client), relay: sortItems(relay), messages, have, need };
}

const items = (n, tsOf) => Array.from({ length: n }, (_, i) => [tsOf(i), randId()]);
const sessions = [];

sessions.push(run('both empty', 60000, [], []));

sessions.push(run('client empty, relay 10', 60000, [], items(10, () => T + randInt(100))));

sessions.push(run('client 10, relay empty', 60000, items(10, () => T + randInt(100)), []));

{
  // Timestamps from a narrow window (many shared), plus 0 and values beyond 2^31 / 2^32
  // on both sides: shared, client-only and relay-only.
  const ts = () => (randInt(20) === 0 ? BIG_TS[randInt(BIG_TS.length)] : T + randInt(200));
  const shared = items(950, ts);
  sessions.push(run('1000 vs 1000, 50 differences each side, shared and large timestamps', 60000,
    shuffle([...shared, ...items(50, ts)]), shuffle([...shared, ...items(50, ts)])));
}

{
  const all = items(2000, () => S);
  const client = shuffle([...all]).slice(0, 1990);
  sessions.push(run('2000 items with one timestamp, client has 1990 of them', 60000, client, all));
}

{
  const same = items(500, () => S + randInt(1000));
  sessions.push(run('identical sets of 500', 60000, same, [...same]));
}

{
  const ts = () => S + randInt(5000);
  const shared = items(2700, ts);
  sessions.push(run('frame size limit 4096, 3000 vs 3000, 300 differences each side', 4096,
    shuffle([...shared, ...items(300, ts)]), shuffle([...shared, ...items(300, ts)])));
}

{
  // The responder's IdList answers do not fit in one frame: it cuts the list, bounds it by the
  // first item left out and fingerprints the rest.
  sessions.push(run('frame size limit 4096, client empty, relay 200', 4096, [], items(200, () => T + randInt(50))));
}

// ---- output: one line per fingerprint case, per item/id list and per message ----
const q = JSON.stringify;
const list = (arr, fmt, indent) => (arr.length ? `[\n${arr.map(x => indent + fmt(x)).join(',\n')}\n${indent.slice(2)}]` : '[]');
const out = [];
out.push('{');
out.push(` "comment": ${q(
  'NIP-77 negentropy V1 vectors from tests/vectors/gen-neg.mjs (node tests/vectors/gen-neg.mjs > tests/vectors/negentropy.json). ' +
  'Ids and timestamps from a seeded mulberry32 PRNG. fingerprints: nostr-tools 2.25.2 NegentropyStorageVector.fingerprint over all ids ' +
  '(sum mod 2^256 of the ids read as little-endian numbers, then sha256(sum || varint(count))[0:16]). sessions: initiator = nostr-tools ' +
  'Negentropy (timestamps coded with exact varints; identical output to stock nostr-tools whenever all timestamps are < 2^31), ' +
  'responder = tests/relay/negentropy.js NegentropyResponder (after the reference C++ reconcileAux); both with frame_size_limit. ' +
  'messages[0] = initiate(), odd = responder replies, even = initiator reconcile() output; the last message is the responder reply ' +
  'after which the initiator reconcile() returned null. have = ids only in client, need = ids only in relay (sorted, checked ' +
  'against the true set differences). client/relay items are [created_at, id] sorted by (created_at, id).',
)},`);
out.push(` "fingerprints": ${list(fingerprints, f => `{"ids": ${q(f.ids)}, "fingerprint": ${q(f.fingerprint)}}`, '  ')},`);
const sess = s => [
  '{',
  `    "name": ${q(s.name)},`,
  `    "frame_size_limit": ${s.frame_size_limit},`,
  `    "client": ${q(s.client)},`,
  `    "relay": ${q(s.relay)},`,
  `    "messages": ${list(s.messages, q, '      ')},`,
  `    "have": ${q(s.have)},`,
  `    "need": ${q(s.need)}`,
  '  }',
].join('\n');
out.push(` "sessions": ${list(sessions, sess, '  ')}`);
out.push('}');
const text = out.join('\n') + '\n';
JSON.parse(text); // well-formed
for (const s of sessions) process.stderr.write(`${s.name}: ${s.messages.length} messages, have ${s.have.length}, need ${s.need.length}\n`);
process.stdout.write(text);
