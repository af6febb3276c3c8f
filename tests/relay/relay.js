#!/usr/bin/env node
// Test relay for relaypool's integration tests.
//
// @nostr-relay/core is a relay engine without a network server; this file
// gives it one: an HTTP server on 127.0.0.1 that upgrades to WebSocket (ws)
// for NIP-01 traffic and answers NIP-11 requests, with a SQLite event store
// and the zod validator in front of the engine.
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
    supported_nips: [1, 9, 11, 40, 50],
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

async function main() {
  const repository = new EventRepositorySqlite(opts.db, { defaultLimit: opts.defaultLimit });
  await repository.init();

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

  wss.on('connection', (ws, req) => {
    const cid = ++connSeq;
    const ip = req.socket.remoteAddress;
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
      if (opts.verbose) log('info', `conn ${cid} closed ${code} ${reason}`);
    });
  });
  wss.on('error', err => log('error', 'websocket server error:', err));

  const port = await listen(server, opts.port);
  log('info', `listening on ws://${HOST}:${port} db=${opts.db} core=${coreVersion}`);

  stopOnSignal({
    server,
    wss,
    sockets: () => sockets,
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
