#!/usr/bin/env node
// Test relay for relaypool's integration tests.
//
// @nostr-relay/core is a relay engine without a network server; this file
// gives it one: an HTTP server on 127.0.0.1 that upgrades to WebSocket (ws)
// for NIP-01 traffic and answers NIP-11 requests, with a SQLite event store
// and the zod validator in front of the engine. NIP-77 (negentropy) is handled
// here, before the validator, with the responder of negentropy.js.
//
// Usage: node relay.js [PORT] [--port N] [--db PATH] [options]   (see --help)
//
// Protocol with the harness:
//   stdout: exactly one line, "LISTENING <port>\n", once the socket is bound.
//   stderr: logs.
//   SIGTERM / SIGINT: closes connections, server and database; exit code 0.
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');
const { NostrRelay } = require('@nostr-relay/core');
const { Validator } = require('@nostr-relay/validator');
const { EventRepositorySqlite } = require('@nostr-relay/event-repository-sqlite');
const { relayProcess } = require('./lifecycle');
const { loadNegentropy } = require('./negentropy');

const { HOST, log, listen, stopOnSignal } = relayProcess('relay');

const USAGE = `usage: node relay.js [PORT] [options]
  --port N            TCP port on 127.0.0.1 (default 0: the kernel picks one)
  --db PATH           SQLite file (default :memory:, lost on exit)
  --name TEXT         NIP-11 name (default "relaypool-test-relay")
  --default-limit N   events per filter when a REQ filter has no limit (default 100;
                      an explicit limit is capped at 10x this value)
  --max-message N     largest WebSocket message in bytes (default 131072); larger
                      ones close the connection with code 1009
  --max-subs N        subscriptions per connection (default 20; the library then
                      silently drops the oldest one)
  --library-caches    keep @nostr-relay/core's caches: event results by id (a
                      duplicate then gets a bare OK true) and REQ results by filter
                      for 1 s (a repeated REQ may miss events published meanwhile)
  --no-negentropy     no NIP-77: NEG-* messages get the validator's NOTICE and
                      NIP-11 does not list 77 (the relay as it was before NIP-77)
  --neg-frame-limit N negentropy responder frame size limit in bytes (default 60000,
                      min 4096; a hex message is twice as long)
  --neg-max-records N NEG-OPEN matching more stored events than this gets
                      NEG-ERR "blocked: too many query results" (default 1000000)
  --neg-err-after N   fault injection: the N-th NEG-MSG of each negentropy session
                      (N >= 1; NEG-OPEN not counted) gets NEG-ERR "error: injected
                      failure" and the session is dropped (default 0: never)
  --exit-with-parent  exit when the parent process goes away
  --verbose           log every message (stderr)
  -h, --help          this text`;

function parseArgs(argv) {
  const o = {
    port: 0,
    db: ':memory:',
    name: 'relaypool-test-relay',
    defaultLimit: 100,
    maxMessage: 128 * 1024,
    maxSubs: 20,
    libraryCaches: false,
    negentropy: true,
    negFrameLimit: 60000,
    negMaxRecords: 1000000,
    negErrAfter: 0,
    exitWithParent: false,
    verbose: false,
  };
  const int = (name, v) => {
    if (v === undefined || !/^\d+$/.test(v)) usageError(`${name} needs a non-negative integer`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    let [key, val] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const next = () => (val !== undefined ? val : argv[++i]);
    switch (key) {
      case '--port': o.port = int(key, next()); break;
      case '--db': o.db = next(); if (!o.db) usageError('--db needs a path'); break;
      case '--name': o.name = next() ?? usageError('--name needs a value'); break;
      case '--default-limit': o.defaultLimit = int(key, next()); break;
      case '--max-message': o.maxMessage = int(key, next()); break;
      case '--max-subs': o.maxSubs = int(key, next()); break;
      case '--library-caches': o.libraryCaches = true; break;
      case '--no-negentropy': o.negentropy = false; break;
      case '--neg-frame-limit': o.negFrameLimit = int(key, next()); break;
      case '--neg-max-records': o.negMaxRecords = int(key, next()); break;
      case '--neg-err-after': o.negErrAfter = int(key, next()); break;
      case '--exit-with-parent': o.exitWithParent = true; break;
      case '--verbose': o.verbose = true; break;
      case '-h': case '--help': process.stdout.write(USAGE + '\n'); process.exit(0); break;
      default:
        if (/^\d+$/.test(a)) o.port = Number(a);
        else usageError(`unknown argument: ${a}`);
    }
  }
  if (o.port > 65535) usageError('port out of range');
  if (o.defaultLimit < 1) usageError('--default-limit must be >= 1');
  if (o.maxSubs < 1) usageError('--max-subs must be >= 1');
  if (o.negFrameLimit < 4096) usageError('--neg-frame-limit must be >= 4096');
  return o;
}

function usageError(msg) {
  process.stderr.write(`relay.js: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));

// The library's default logger writes info to stdout; ours keeps stdout for
// the LISTENING line only.
const LEVELS = { DEBUG: 0, INFO: 1, WARN: 2, ERROR: 3 };
const stderrLogger = {
  level: LEVELS.INFO,
  setLogLevel(l) { this.level = l; },
  debug(...a) { if (this.level <= LEVELS.DEBUG) log('debug', ...a); },
  info(...a) { if (this.level <= LEVELS.INFO) log('info', ...a); },
  warn(...a) { if (this.level <= LEVELS.WARN) log('warn', ...a); },
  error(...a) { if (this.level <= LEVELS.ERROR) log('error', ...a); },
};

const coreVersion = require('@nostr-relay/core/package.json').version;

// Limits the validator enforces (its defaults, written out so that NIP-11
// tells the truth about them).
const validatorLimits = {
  maxTagValueLength: 1024,
  maxNumberOfTags: 2000,
  maxContentLength: 100 * 1024,
  maxSubscriptionIdLength: 128,
  maxFilterIdsLength: 1000,
  maxFilterAuthorsLength: 1000,
  maxFilterKindsLength: 20,
  maxFilterGenericTagsLength: 256,
  maxFilterSearchStringLength: 256,
};

function nip11Document() {
  return {
    name: opts.name,
    description: 'Local Nostr relay for relaypool integration tests (@nostr-relay/core + SQLite).',
    supported_nips: opts.negentropy ? [1, 9, 11, 40, 50, 77] : [1, 9, 11, 40, 50],
    software: 'https://github.com/CodyTseng/nostr-relay',
    version: coreVersion,
    limitation: {
      max_message_length: opts.maxMessage,
      max_subscriptions: opts.maxSubs,
      max_limit: opts.defaultLimit * 10,
      default_limit: opts.defaultLimit,
      max_subid_length: validatorLimits.maxSubscriptionIdLength,
      max_event_tags: validatorLimits.maxNumberOfTags,
      max_content_length: validatorLimits.maxContentLength,
      min_pow_difficulty: 0,
      auth_required: false,
      payment_required: false,
      restricted_writes: false,
    },
  };
}

// NIP-77 needs every stored event a filter matches, but the repository's find() caps each
// query at 10x the default limit. So NEG-OPEN reads the library's tables (events,
// generic_tags, events_fts) itself through the repository's better-sqlite3 handle, with
// the meaning find() gives each filter field: authors match the `author` column (the
// delegator of a valid NIP-26 event), an empty ids/authors/kinds array is no condition,
// "#x" needs one of the values. Differences: `limit` is ignored, any number of tag
// conditions is allowed (find() returns nothing for more than two) and until: 0 is a
// condition (find() drops a falsy since/until). Returns up to max + 1 [created_at, id] rows.
function negentropyQuery(db, filter, max) {
  const joinParams = [];
  const where = [];
  const params = [];
  const inList = (col, values) => {
    where.push(`${col} IN (${values.map(() => '?').join(',')})`);
    params.push(...values);
  };
  let from = 'events e';
  const search = typeof filter.search === 'string' ? filter.search.trim() : '';
  if (search) {
    from += ' JOIN events_fts fts ON fts.id = e.id AND fts.content MATCH ?';
    joinParams.push(search);
  }
  if (filter.ids && filter.ids.length) inList('e.id', filter.ids);
  if (filter.authors && filter.authors.length) inList('e.author', filter.authors);
  if (filter.kinds && filter.kinds.length) inList('e.kind', filter.kinds);
  if (filter.since !== undefined) {
    where.push('e.created_at >= ?');
    params.push(filter.since);
  }
  if (filter.until !== undefined) {
    where.push('e.created_at <= ?');
    params.push(filter.until);
  }
  for (const key of Object.keys(filter)) {
    if (!/^#[a-zA-Z]$/.test(key) || !Array.isArray(filter[key]) || filter[key].length === 0) continue;
    const tags = filter[key].map(v => `${key[1]}:${v}`);
    where.push(`e.id IN (SELECT event_id FROM generic_tags WHERE tag IN (${tags.map(() => '?').join(',')}))`);
    params.push(...tags);
  }
  const sql = `SELECT e.created_at, e.id FROM ${from}${where.length ? ' WHERE ' + where.join(' AND ') : ''} LIMIT ?`;
  return db.prepare(sql).raw(true).all(...joinParams, ...params, max + 1);
}

// A NEG-* message, parsed, or null for anything else (which goes to the validator).
function negentropyMessage(raw) {
  if (!/^\s*\[\s*"NEG-/.test(raw)) return null;
  let m;
  try {
    m = JSON.parse(raw);
  } catch {
    return null;
  }
  return Array.isArray(m) && (m[0] === 'NEG-OPEN' || m[0] === 'NEG-MSG' || m[0] === 'NEG-CLOSE') ? m : null;
}

async function main() {
  const repository = new EventRepositorySqlite(opts.db, { defaultLimit: opts.defaultLimit });
  await repository.init();
  const nip77 = opts.negentropy ? await loadNegentropy() : null;
  const negTotals = { open: 0, msg: 0 };

  const relay = new NostrRelay(repository, {
    logger: stderrLogger,
    maxSubscriptionsPerClient: opts.maxSubs,
    ...(opts.libraryCaches ? {} : { eventHandlingResultCacheTtl: 0, filterResultCacheTtl: 0 }),
  });
  const validator = new Validator(validatorLimits);

  const server = http.createServer((req, res) => {
    const cors = {
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Headers': '*',
      'Access-Control-Allow-Methods': 'GET, OPTIONS',
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors);
      res.end();
      return;
    }
    const accept = String(req.headers.accept || '');
    if (req.method === 'GET' && accept.includes('application/nostr+json')) {
      const body = JSON.stringify(nip11Document());
      res.writeHead(200, { ...cors, 'Content-Type': 'application/nostr+json' });
      res.end(body);
      return;
    }
    res.writeHead(200, { ...cors, 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('Nostr relay for tests: connect with a WebSocket, or GET with Accept: application/nostr+json\n');
  });

  const wss = new WebSocketServer({
    server,
    maxPayload: opts.maxMessage,
    perMessageDeflate: false,
  });

  const sockets = new Set();
  let connSeq = 0;

  // A rejected message gets the answer a client can match: OK for an EVENT
  // whose id we can read, CLOSED for a REQ whose subscription id we can read,
  // NOTICE otherwise.
  function rejection(raw, message) {
    let parsed;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return ['NOTICE', 'invalid: message is not valid JSON'];
    }
    if (Array.isArray(parsed)) {
      const [type, arg] = parsed;
      if (type === 'EVENT' && arg && typeof arg.id === 'string' && /^[0-9a-f]{64}$/.test(arg.id)) {
        return ['OK', arg.id, false, message];
      }
      if (type === 'REQ' && typeof arg === 'string') {
        return ['CLOSED', arg, message];
      }
    }
    return ['NOTICE', message];
  }

  function send(ws, msg) {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
  }

  // NIP-77 for one connection (conn: { cid, sessions: Map subId -> {neg, msgs}, opens, msgs }).
  async function handleNegentropy(ws, conn, msg) {
    const [type, subId] = msg;
    if (typeof subId !== 'string' || subId.length < 1 || subId.length > validatorLimits.maxSubscriptionIdLength) {
      send(ws, ['NOTICE', `invalid: ${type} needs a subscription id of 1 to ${validatorLimits.maxSubscriptionIdLength} characters`]);
      return;
    }
    const fail = reason => {
      conn.sessions.delete(subId);
      send(ws, ['NEG-ERR', subId, reason]);
      if (opts.verbose) log('info', `conn ${conn.cid} ${type} ${subId}: NEG-ERR ${reason}`);
    };
    const counts = () => `(received on this connection: ${conn.opens} NEG-OPEN, ${conn.msgs} NEG-MSG)`;

    if (type === 'NEG-CLOSE') {
      conn.sessions.delete(subId);
      return;
    }

    if (type === 'NEG-OPEN') {
      conn.opens++;
      negTotals.open++;
      conn.sessions.delete(subId); // a NEG-OPEN with a subscription id in use replaces that session
      if (msg.length !== 4) return fail('error: NEG-OPEN takes a subscription id, a filter and a message');
      const [, , rawFilter, hex] = msg;
      if (rawFilter === null || typeof rawFilter !== 'object' || Array.isArray(rawFilter)) {
        return fail('error: the filter must be an object');
      }
      let filter;
      try {
        filter = await validator.validateFilter(rawFilter);
      } catch (err) {
        return fail(`error: bad filter: ${String(err && err.message).replace(/^invalid:?\s*/, '')}`);
      }
      if (typeof hex !== 'string' || !/^(?:[0-9a-fA-F]{2})+$/.test(hex)) return fail('error: the message is not a hex string');
      let rows;
      try {
        rows = negentropyQuery(repository.getDatabase(), filter, opts.negMaxRecords);
      } catch (err) {
        log('warn', `conn ${conn.cid} NEG-OPEN ${subId}: query failed: ${err.message}`);
        return fail(`error: query failed: ${err.message}`);
      }
      if (rows.length > opts.negMaxRecords) return fail('blocked: too many query results');
      const storage = new nip77.NegentropyStorageVector();
      for (const [createdAt, id] of rows) storage.insert(createdAt, id);
      storage.seal();
      const session = { neg: new nip77.NegentropyResponder(storage, opts.negFrameLimit), msgs: 0 };
      let reply;
      try {
        reply = session.neg.reconcile(hex);
      } catch (err) {
        return fail(`error: ${err.message}`);
      }
      conn.sessions.set(subId, session);
      send(ws, ['NEG-MSG', subId, reply]);
      if (opts.verbose) log('info', `conn ${conn.cid} NEG-OPEN ${subId}: ${rows.length} records, reply ${reply.length / 2} bytes ${counts()}`);
      return;
    }

    // NEG-MSG
    conn.msgs++;
    negTotals.msg++;
    const session = conn.sessions.get(subId);
    if (!session) return fail('closed: unknown subscription');
    session.msgs++;
    if (opts.negErrAfter && session.msgs === opts.negErrAfter) return fail('error: injected failure');
    let reply;
    try {
      if (msg.length !== 3) throw new Error('NEG-MSG takes a subscription id and a message');
      reply = session.neg.reconcile(msg[2]);
    } catch (err) {
      return fail(`error: ${err.message}`);
    }
    send(ws, ['NEG-MSG', subId, reply]);
    if (opts.verbose) log('info', `conn ${conn.cid} NEG-MSG ${subId} #${session.msgs}: reply ${reply.length / 2} bytes ${counts()}`);
  }

  wss.on('connection', (ws, req) => {
    const cid = ++connSeq;
    const ip = req.socket.remoteAddress;
    const conn = { cid, sessions: new Map(), opens: 0, msgs: 0 };
    sockets.add(ws);
    relay.handleConnection(ws, ip);
    if (opts.verbose) log('info', `conn ${cid} open from ${ip}:${req.socket.remotePort}`);

    // Messages of one connection are handled one after another, in order, so
    // that e.g. a REQ sent after an EVENT sees that event.
    let queue = Promise.resolve();
    ws.on('message', (data, isBinary) => {
      const raw = data.toString('utf8');
      if (opts.verbose) log('info', `conn ${cid} <- ${raw.length > 300 ? raw.slice(0, 300) + '...' : raw}`);
      queue = queue.then(async () => {
        if (isBinary) {
          send(ws, ['NOTICE', 'invalid: binary frames are not supported']);
          return;
        }
        const neg = nip77 ? negentropyMessage(raw) : null;
        if (neg) {
          try {
            await handleNegentropy(ws, conn, neg);
          } catch (err) {
            log('error', `conn ${cid} handling ${neg[0]} failed:`, err);
            send(ws, ['NOTICE', `error: ${err && err.message ? err.message : 'internal error'}`]);
          }
          return;
        }
        let message;
        try {
          message = await validator.validateIncomingMessage(raw);
        } catch (err) {
          const text = err && err.message ? String(err.message) : 'invalid: bad message';
          send(ws, rejection(raw, text.startsWith('invalid') ? text : `invalid: ${text}`));
          return;
        }
        try {
          await relay.handleMessage(ws, message);
        } catch (err) {
          log('error', `conn ${cid} handling ${message[0]} failed:`, err);
          send(ws, ['NOTICE', `error: ${err && err.message ? err.message : 'internal error'}`]);
        }
      });
    });
    ws.on('error', err => log('warn', `conn ${cid} error: ${err.message}`));
    ws.on('close', (code, reason) => {
      sockets.delete(ws);
      relay.handleDisconnect(ws);
      conn.sessions.clear();
      if (opts.verbose) {
        const neg = conn.opens || conn.msgs ? ` (${conn.opens} NEG-OPEN, ${conn.msgs} NEG-MSG received)` : '';
        log('info', `conn ${cid} closed ${code} ${reason}${neg}`);
      }
    });
  });
  wss.on('error', err => log('error', 'websocket server error:', err));

  const port = await listen(server, opts.port);
  log('info', `listening on ws://${HOST}:${port} db=${opts.db} core=${coreVersion}`);

  stopOnSignal({
    server,
    wss,
    sockets: () => sockets,
    onStop: () => {
      if (opts.verbose && nip77) log('info', `negentropy: ${negTotals.open} NEG-OPEN, ${negTotals.msg} NEG-MSG received`);
    },
    release: async () => {
      await relay.destroy();
      await repository.destroy(); // closes the SQLite database
    },
    exitWithParent: opts.exitWithParent,
  });
}

main().catch(err => {
  log('error', 'startup failed:', err);
  process.exit(1);
});
