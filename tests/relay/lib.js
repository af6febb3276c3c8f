// Helpers shared by check.js and probe.js: start relay.js as a child process
// and talk to it over one WebSocket.
'use strict';

const path = require('path');
const { spawn } = require('child_process');
const WebSocket = require('ws');

const RELAY_JS = path.join(__dirname, 'relay.js');

// Starts relay.js; resolves once it printed "LISTENING <port>".
function startRelay(args = [], { timeoutMs = 15000, stderr = 'inherit' } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [RELAY_JS, ...args], {
      stdio: ['ignore', 'pipe', stderr],
    });
    let out = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`relay did not print LISTENING within ${timeoutMs} ms`));
    }, timeoutMs);
    const exitEarly = code => {
      clearTimeout(timer);
      reject(new Error(`relay exited (${code}) before listening`));
    };
    proc.once('exit', exitEarly);
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', chunk => {
      out += chunk;
      const m = /^LISTENING (\d+)\n/.exec(out);
      if (m && !proc.port) {
        clearTimeout(timer);
        proc.removeListener('exit', exitEarly);
        proc.port = Number(m[1]);
        resolve({
          proc,
          port: proc.port,
          url: `ws://127.0.0.1:${proc.port}`,
          stdout: () => out,
          stop(signal = 'SIGTERM') {
            return new Promise(res => {
              if (proc.exitCode !== null || proc.signalCode !== null) {
                res({ code: proc.exitCode, signal: proc.signalCode });
                return;
              }
              proc.once('exit', (code, sig) => res({ code, signal: sig }));
              proc.kill(signal);
            });
          },
        });
      }
    });
  });
}

// One WebSocket connection that records every message it receives.
class Client {
  constructor(url, wsOptions = {}) {
    this.url = url;
    this.ws = new WebSocket(url, { perMessageDeflate: false, ...wsOptions });
    this.inbox = [];
    this.waiters = [];
    this.closed = null;
    this.ws.on('message', data => {
      const msg = JSON.parse(data.toString('utf8'));
      this.inbox.push(msg);
      this._wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this._wake();
    });
    this.ws.on('error', err => {
      this.error = err;
      this._wake();
    });
  }

  open() {
    if (this.ws.readyState === WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
  }

  send(msg) {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  _wake() {
    for (const w of [...this.waiters]) w();
  }

  // Waits until pred(inbox) returns a truthy value; resolves with it.
  waitFor(pred, timeoutMs = 10000, what = 'message') {
    return new Promise((resolve, reject) => {
      const check = () => {
        let r;
        try {
          r = pred(this.inbox);
        } catch (e) {
          done();
          reject(e);
          return true;
        }
        if (r) {
          done();
          resolve(r);
          return true;
        }
        if (this.closed) {
          done();
          reject(new Error(`connection closed (${this.closed.code} ${this.closed.reason}) while waiting for ${what}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timeout waiting for ${what}`));
      }, timeoutMs);
      const waiter = () => check();
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter(w => w !== waiter);
      };
      if (!check()) this.waiters.push(waiter);
    });
  }

  waitOk(id, timeoutMs) {
    return this.waitFor(box => box.find(m => m[0] === 'OK' && m[1] === id), timeoutMs, `OK for ${id.slice(0, 8)}`);
  }

  // Sends a REQ and resolves with {events, end} where end is the EOSE or CLOSED message.
  async req(subId, filters, timeoutMs) {
    const start = this.inbox.length;
    this.send(['REQ', subId, ...filters]);
    const end = await this.waitFor(
      box => box.slice(start).find(m => (m[0] === 'EOSE' || m[0] === 'CLOSED') && m[1] === subId),
      timeoutMs,
      `EOSE for ${subId}`,
    );
    const events = this.inbox
      .slice(start)
      .filter(m => m[0] === 'EVENT' && m[1] === subId)
      .map(m => m[2]);
    return { events, end };
  }

  close() {
    return new Promise(resolve => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

module.exports = { startRelay, Client, RELAY_JS };
