#!/usr/bin/env node
// negsync.mjs - a command-line NIP-77 INITIATOR (negentropy protocol V1), to test a relay's
// responder (ours in C, or tests/relay/relay.js). The protocol side is nostr-tools' Negentropy
// class (via negentropy.js, which only makes its timestamp varints exact beyond 2^31);
// nothing here depends on relay.js or on relaypool's C code.
//
//   node tests/relay/negsync.mjs --url ws://127.0.0.1:PORT --filter '{"kinds":[1]}' --items FILE
//        [--frame-limit N] [--timeout S] [--subid ID]
//
// FILE: JSON array of [created_at, "idhex"] pairs, the local set (may be []).
// Sends ["NEG-OPEN", subid, filter, initiate()], answers every NEG-MSG with reconcile() until
// reconcile returns null, then sends NEG-CLOSE and prints one JSON line on stdout:
//   {"have":[ids only local],"need":[ids only on the relay],"round_trips":N,
//    "bytes_sent":N,"bytes_received":N}
// (ids sorted; round_trips = NEG-MSG replies received; bytes = hex message lengths / 2, the
// initial message included). Exit 0.
// On NEG-ERR, NOTICE, CLOSED for our id, a reconcile error, a closed connection or the
// timeout (default 30 s for the whole run): prints {"error":"..."} and exits 1.
// Bad arguments: usage on stderr, exit 2.
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const { loadNegentropy } = require('./negentropy.js');

const USAGE = `usage: node negsync.mjs --url WS_URL --filter JSON --items FILE [--frame-limit N] [--timeout S] [--subid ID]
  --url URL          relay to reconcile with (ws:// or wss://)
  --filter JSON      NIP-01 filter object of the NEG-OPEN
  --items FILE       JSON array of [created_at, idhex] pairs: the local set
  --frame-limit N    initiator frame size limit in bytes (default 60000, min 4096)
  --timeout S        give up after S seconds (default 30)
  --subid ID         subscription id (default "negsync")`;

function usageError(msg) {
  process.stderr.write(`negsync.mjs: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { url: null, filter: null, items: null, frameLimit: 60000, timeout: 30, subid: 'negsync' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const key = eq > 0 ? a.slice(0, eq) : a;
    const next = () => {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) usageError(`${key} needs a value`);
      return v;
    };
    switch (key) {
      case '--url': o.url = next(); break;
      case '--filter': {
        const v = next();
        try {
          o.filter = JSON.parse(v);
        } catch (e) {
          usageError(`--filter is not JSON: ${e.message}`);
        }
        if (o.filter === null || typeof o.filter !== 'object' || Array.isArray(o.filter)) usageError('--filter must be a JSON object');
        break;
      }
      case '--items': o.items = next(); break;
      case '--frame-limit': o.frameLimit = Number(next()); break;
      case '--timeout': o.timeout = Number(next()); break;
      case '--subid': o.subid = next(); break;
      case '-h': case '--help': process.stdout.write(USAGE + '\n'); process.exit(0); break;
      default: usageError(`unknown argument: ${a}`);
    }
  }
  if (!o.url || !o.filter || !o.items) usageError('--url, --filter and --items are required');
  if (!Number.isInteger(o.frameLimit) || o.frameLimit < 4096) usageError('--frame-limit must be an integer >= 4096');
  if (!(o.timeout > 0)) usageError('--timeout must be a positive number');
  return o;
}

function readItems(file) {
  let items;
  try {
    items = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    usageError(`cannot read --items ${file}: ${e.message}`);
  }
  if (!Array.isArray(items)) usageError('--items must hold a JSON array');
  for (const it of items) {
    if (!Array.isArray(it) || it.length !== 2 || !Number.isSafeInteger(it[0]) || it[0] < 0 ||
        typeof it[1] !== 'string' || !/^[0-9a-f]{64}$/.test(it[1])) {
      usageError(`bad item ${JSON.stringify(it)}: want [created_at, 64 lowercase hex chars]`);
    }
  }
  return items;
}

const opts = parseArgs(process.argv.slice(2));
const items = readItems(opts.items);
const { Negentropy, NegentropyStorageVector } = await loadNegentropy();

const storage = new NegentropyStorageVector();
try {
  for (const [ts, id] of items) storage.insert(ts, id);
  storage.seal();
} catch (e) {
  usageError(`--items: ${e.message}`);
}
const neg = new Negentropy(storage, opts.frameLimit);

const have = [];
const need = [];
let roundTrips = 0;
let bytesSent = 0;
let bytesReceived = 0;
let finished = false;
let result = null; // set when the reconciliation is complete

function finish(result, code) {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
}
const fail = msg => {
  try {
    ws.terminate();
  } catch {}
  finish({ error: msg }, 1);
};

const timer = setTimeout(() => fail(`timeout after ${opts.timeout} s`), opts.timeout * 1000);
const ws = new WebSocket(opts.url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });

function sendNeg(msg) {
  ws.send(JSON.stringify(msg));
}

ws.on('open', () => {
  const init = neg.initiate();
  bytesSent += init.length / 2;
  sendNeg(['NEG-OPEN', opts.subid, opts.filter, init]);
});

ws.on('message', data => {
  if (finished || result) return;
  let m;
  try {
    m = JSON.parse(data.toString('utf8'));
  } catch {
    return fail('relay sent a message that is not JSON');
  }
  if (!Array.isArray(m)) return;
  if (m[0] === 'NOTICE') return fail(`NOTICE: ${m[1]}`);
  if (m[1] !== opts.subid) return;
  if (m[0] === 'NEG-ERR') return fail(`NEG-ERR: ${m[2]}`);
  if (m[0] === 'CLOSED') return fail(`CLOSED: ${m[2]}`);
  if (m[0] !== 'NEG-MSG') return;
  if (typeof m[2] !== 'string') return fail('NEG-MSG without a message');
  roundTrips++;
  bytesReceived += m[2].length / 2;
  let next;
  try {
    next = neg.reconcile(m[2], id => have.push(id), id => need.push(id));
  } catch (e) {
    return fail(`reconcile: ${e.message}`);
  }
  if (next === null) {
    have.sort();
    need.sort();
    result = { have, need, round_trips: roundTrips, bytes_sent: bytesSent, bytes_received: bytesReceived };
    // NEG-CLOSE goes out before the close frame; the result is printed once the socket is
    // closed (or after 2 s if the relay does not answer the close handshake).
    sendNeg(['NEG-CLOSE', opts.subid]);
    ws.close();
    setTimeout(() => finish(result, 0), 2000);
    return;
  }
  bytesSent += next.length / 2;
  sendNeg(['NEG-MSG', opts.subid, next]);
});

ws.on('error', e => (result ? finish(result, 0) : fail(`connection: ${e.message}`)));
ws.on('close', (code, reason) =>
  result ? finish(result, 0) : fail(`connection closed (${code} ${reason}) before the end of the reconciliation`),
);
