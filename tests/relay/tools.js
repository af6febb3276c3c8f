// tools.js - small Nostr helpers for the integration tests, built on the same pinned
// nostr-tools and ws as the test relay.
//
//   node tools.js gen N [--kind K] [--tag NAME=VALUE]... [--seed S] [--since T] [--content-size B] [--same-time]
//       N signed events as JSON lines (a fresh key per seed; created_at from T upward, or all T).
//   node tools.js req URL FILTER_JSON [FILTER_JSON...]
//       REQ on URL, prints the events as JSON lines, stops at EOSE (or CLOSED: exit 1).
//   node tools.js pub URL FILE [--rate N] [--times OUT]
//       Publishes the events of FILE (JSON lines) pipelined on one connection; exit 1
//       unless every one gets OK true. --rate: N events a second (in 10 ms steps) instead of
//       all at once; --times: write "id unix_ms" per event as it is sent.
'use strict';

const crypto = require('crypto');
const WebSocket = require('ws');
const { finalizeEvent } = require('nostr-tools');

function usage() {
  process.stderr.write('usage: tools.js gen N [--kind K] [--tag N=V]... [--seed S] [--since T] [--content-size B] [--same-time]\n' +
    '       tools.js req URL FILTER_JSON...\n');
  process.exit(2);
}

function gen(args) {
  const n = Number(args[0]);
  let kind = 1, seed = 'relaypool-tests', since = 1700000000, size = 0, same = false;
  const tags = [];
  for (let i = 1; i < args.length; i++) {
    const v = args[i + 1];
    switch (args[i]) {
      case '--kind': kind = Number(v); i++; break;
      case '--seed': seed = v; i++; break;
      case '--since': since = Number(v); i++; break;
      case '--content-size': size = Number(v); i++; break;
      case '--same-time': same = true; break;
      case '--tag': {
        const eq = v.indexOf('=');
        tags.push([v.slice(0, eq), v.slice(eq + 1)]);
        i++;
        break;
      }
      default: usage();
    }
  }
  if (!Number.isInteger(n) || n < 0) usage();
  const sk = crypto.createHash('sha256').update(seed).digest();
  const out = [];
  for (let i = 0; i < n; i++) {
    const content = size > 0 ? `${i} `.padEnd(size, 'x') : `event ${i} from ${seed}`;
    out.push(JSON.stringify(finalizeEvent({ kind, created_at: same ? since : since + i, tags, content }, sk)));
    if (out.length >= 500) {
      process.stdout.write(out.join('\n') + '\n');
      out.length = 0;
    }
  }
  if (out.length) process.stdout.write(out.join('\n') + '\n');
}

function req(args) {
  if (args.length < 2) usage();
  const filters = args.slice(1).map(f => JSON.parse(f));
  const ws = new WebSocket(args[0], { perMessageDeflate: false });
  const timer = setTimeout(() => {
    process.stderr.write('tools.js req: no EOSE within 30 s\n');
    process.exit(1);
  }, 30000);
  ws.on('open', () => ws.send(JSON.stringify(['REQ', 'q', ...filters])));
  ws.on('message', data => {
    const m = JSON.parse(data.toString());
    if (m[0] === 'EVENT' && m[1] === 'q') process.stdout.write(JSON.stringify(m[2]) + '\n');
    else if (m[0] === 'EOSE' && m[1] === 'q') {
      clearTimeout(timer);
      ws.close();
    } else if (m[0] === 'CLOSED') {
      process.stderr.write(`tools.js req: CLOSED ${m[2]}\n`);
      process.exitCode = 1;
      clearTimeout(timer);
      ws.close();
    }
  });
  // No process.exit() here: it would cut off stdout, which is still being written to a pipe.
  ws.on('close', () => clearTimeout(timer));
  ws.on('error', e => {
    process.stderr.write(`tools.js req: ${e.message}\n`);
    process.exitCode = 1;
    clearTimeout(timer);
  });
}

function pub(args) {
  let rate = 0, timesPath = null;
  const pos = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--rate') rate = Number(args[++i]);
    else if (args[i] === '--times') timesPath = args[++i];
    else pos.push(args[i]);
  }
  if (pos.length !== 2) usage();
  const fs = require('fs');
  const lines = fs.readFileSync(pos[1], 'utf8').split('\n').filter(l => l.trim());
  const ws = new WebSocket(pos[0], { perMessageDeflate: false });
  const ids = lines.map(l => JSON.parse(l).id);
  const waiting = new Set(ids);
  const times = [];
  let failed = 0;
  const send = i => {
    ws.send(`["EVENT",${lines[i]}]`);
    if (timesPath) times.push(`${ids[i]} ${Date.now()}`);
  };
  ws.on('open', () => {
    if (!rate) {
      for (let i = 0; i < lines.length; i++) send(i);
      return;
    }
    const start = Date.now();
    let next = 0;
    const tick = () => {
      const due = Math.min(lines.length, Math.floor((Date.now() - start) * rate / 1000) + 1);
      while (next < due) send(next++);
      if (next < lines.length) setTimeout(tick, 10);
    };
    tick();
  });
  process.on('exit', () => { if (timesPath) fs.writeFileSync(timesPath, times.join('\n') + '\n'); });
  ws.on('message', data => {
    const m = JSON.parse(data.toString());
    if (m[0] !== 'OK' || !waiting.delete(m[1])) return;
    if (m[2] !== true) {
      failed++;
      process.stderr.write(`tools.js pub: ${m[1]}: ${m[3]}\n`);
    }
    if (waiting.size === 0) {
      process.exitCode = failed ? 1 : 0;
      ws.close();
    }
  });
  ws.on('error', e => {
    process.stderr.write(`tools.js pub: ${e.message}\n`);
    process.exitCode = 1;
  });
  if (lines.length === 0) ws.on('open', () => ws.close());
}

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === 'gen') gen(rest);
else if (cmd === 'req') req(rest);
else if (cmd === 'pub') pub(rest);
else usage();
