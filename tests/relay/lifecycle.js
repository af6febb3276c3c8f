// The process lifecycle both test relays share (tests/relay/relay.js and
// tests/fixtures/fault-relay.js): a stderr logger, SIGTERM/SIGINT caught from the
// first line, the "LISTENING <port>" line the test harness waits for on stdout, and
// a graceful shutdown bounded in time. Only Node's own modules are used here, so
// the fault relay can require this file by path without node_modules.
'use strict';

const fs = require('fs');

const HOST = '127.0.0.1'; // never anything else: the test relays are for local tests

function relayProcess(name) {
  // Signals that arrive before the relay is up are held, then end it cleanly.
  let onSignal = null;
  let pendingSignal = null;
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => {
      if (onSignal) onSignal(sig);
      else pendingSignal = sig;
    });
  }

  function log(level, ...parts) {
    const text = parts
      .map(p => (p instanceof Error ? p.stack || p.message : typeof p === 'string' ? p : JSON.stringify(p)))
      .join(' ');
    process.stderr.write(`${new Date().toISOString()} ${name}[${process.pid}] ${level}: ${text}\n`);
  }

  // Binds HOST:port (0 = any free port), announces it on stdout, returns the port.
  async function listen(server, port) {
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: HOST, port, exclusive: true }, resolve);
    });
    const bound = server.address().port;
    fs.writeSync(1, `LISTENING ${bound}\n`);
    return bound;
  }

  // From now on a signal (or, with exitWithParent, the parent's exit) stops the relay:
  // onStop() runs first, every socket from sockets() is closed with 1001, peers that do
  // not answer the close handshake within a second are dropped, release() frees what
  // the relay holds, and the process exits 0. Five seconds in all, else exit 1.
  function stopOnSignal({ server, wss, sockets, onStop, release, exitWithParent }) {
    let stopping = false;
    async function shutdown(why) {
      if (stopping) return;
      stopping = true;
      log('info', `shutting down (${why})`);
      const force = setTimeout(() => {
        log('error', 'shutdown took too long; exiting');
        process.exit(1);
      }, 5000);
      force.unref();
      try {
        if (onStop) onStop();
        for (const ws of sockets()) ws.close(1001, 'relay shutting down');
        const drop = setTimeout(() => {
          for (const ws of sockets()) ws.terminate();
          server.closeAllConnections();
        }, 1000);
        await new Promise(resolve => wss.close(() => resolve()));
        const httpClosed = new Promise(resolve => server.close(() => resolve()));
        server.closeIdleConnections();
        await httpClosed;
        clearTimeout(drop);
        if (release) await release();
        log('info', 'stopped');
        process.exit(0);
      } catch (err) {
        log('error', 'shutdown failed:', err);
        process.exit(1);
      }
    }
    onSignal = shutdown;
    if (pendingSignal) shutdown(pendingSignal);

    if (exitWithParent) {
      const parent = process.ppid;
      setInterval(() => {
        if (process.ppid !== parent) shutdown('parent exited');
      }, 500).unref();
    }
  }

  return { HOST, log, listen, stopOnSignal };
}

module.exports = { relayProcess };
