// negentropy.js - NIP-77 (negentropy protocol V1) for the test relay and the test tools.
//
// nostr-tools 2.25.2 ships the protocol in lib/esm/nip77.js (ESM only and not in the
// package's "exports", so it is imported here by file path). Its Negentropy class only
// plays the INITIATOR: on an IdList range it records have/need and never answers. This
// module adds:
//
//   NegentropyResponder  the RESPONDER role (what a relay runs), written from the reference
//                        description (hoytech/negentropy cpp/negentropy.h, reconcileAux with
//                        isInitiator false). reconcile(hexMessage) -> hex reply, never null.
//   Negentropy           nostr-tools' Negentropy with 53-bit-safe timestamp varints (see below);
//                        use it as the initiator.
//   NegentropyStorageVector  nostr-tools' own, unchanged.
//
// Timestamp coding: nostr-tools' varint helpers use 32-bit operators (`n >>>= 7`,
// `res << 7`), so a bound whose timestamp delta is 2^31 or more is encoded or decoded wrong.
// Real created_at values (< 2^31 until 2038) are unaffected, but the protocol's timestamps
// are 64-bit, so both classes here override encodeTimestampOut / decodeTimestampIn (and the
// responder decodeBound) with exact varints for every integer up to 2^53. Decoded sums above
// 2^53 saturate to "infinity", as the reference saturates at 2^64 - 1. Everything else
// (bounds, splitRange, fingerprints, frame limit test) is nostr-tools' code.
//
// Use (CommonJS):  const { loadNegentropy } = require('./negentropy');
//                  const { Negentropy, NegentropyResponder, NegentropyStorageVector } = await loadNegentropy();
// From ESM:        import negentropy from './negentropy.js'; await negentropy.loadNegentropy();
'use strict';

const path = require('path');
const { pathToFileURL } = require('url');

const NIP77_JS = path.join(__dirname, 'node_modules', 'nostr-tools', 'lib', 'esm', 'nip77.js');

const PROTOCOL_VERSION = 0x61;
const ID_SIZE = 32;
const FINGERPRINT_SIZE = 16;
const Mode = { Skip: 0, Fingerprint: 1, IdList: 2 };
const INFINITY = Number.MAX_VALUE; // nostr-tools' timestamp for the "infinity" bound
const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

const toHex = bytes => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

function fromHex(hex) {
  if (typeof hex !== 'string' || !HEX_RE.test(hex)) throw new Error('message is not a hex string');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

// Varint of the protocol: base 128, most significant group first, high bit = more follows.
// Exact for 0 <= n <= 2^53.
function encodeVarInt(n) {
  if (!Number.isInteger(n) || n < 0) throw new Error(`cannot encode ${n} as a varint`);
  if (n === 0) return Uint8Array.of(0);
  const o = [];
  while (n > 0) {
    o.push(n % 128);
    n = Math.floor(n / 128);
  }
  o.reverse();
  for (let i = 0; i < o.length - 1; i++) o[i] |= 0x80;
  return Uint8Array.from(o);
}

// buf: anything with .length (bytes left) and .shift() (next byte): nostr-tools'
// WrappedBuffer or the Reader below. At most 10 bytes (a 64-bit value); values above 2^53
// come back rounded.
function decodeVarInt(buf) {
  let res = 0;
  for (let n = 1; ; n++) {
    if (buf.length === 0) throw new Error('parse ends prematurely');
    if (n > 10) throw new Error('varint too long');
    const byte = buf.shift();
    res = res * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) return res;
  }
}

// Read cursor over a message, with the interface nostr-tools' parsing helpers use.
class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.pos = 0;
  }
  get length() {
    return this.bytes.length - this.pos;
  }
  shift() {
    return this.bytes[this.pos++];
  }
  shiftN(n) {
    const r = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return r;
  }
}

function getBytes(buf, n) {
  if (buf.length < n) throw new Error('parse ends prematurely');
  return buf.shiftN(n);
}

// Growable output buffer; extend() takes bytes, arrays or nostr-tools' WrappedBuffer.
class Writer {
  constructor() {
    this.raw = new Uint8Array(256);
    this.length = 0;
  }
  extend(buf) {
    if (buf && typeof buf.unwrap === 'function') buf = buf.unwrap();
    const need = this.length + buf.length;
    if (need > this.raw.length) {
      const bigger = new Uint8Array(Math.max(this.raw.length * 2, need));
      bigger.set(this.raw.subarray(0, this.length));
      this.raw = bigger;
    }
    this.raw.set(buf, this.length);
    this.length = need;
  }
  unwrap() {
    return this.raw.subarray(0, this.length);
  }
}

function build(nip77) {
  const Base = nip77.Negentropy;

  // nostr-tools' class with exact timestamp varints; the initiator.
  class Negentropy extends Base {
    encodeTimestampOut(timestamp) {
      if (timestamp === INFINITY) {
        this.lastTimestampOut = INFINITY;
        return encodeVarInt(0);
      }
      const delta = timestamp - this.lastTimestampOut;
      this.lastTimestampOut = timestamp;
      return encodeVarInt(delta + 1);
    }

    decodeTimestampIn(encoded) {
      let timestamp = decodeVarInt(encoded);
      timestamp = timestamp === 0 ? INFINITY : timestamp - 1;
      if (this.lastTimestampIn === INFINITY || timestamp === INFINITY) {
        this.lastTimestampIn = INFINITY;
        return INFINITY;
      }
      timestamp += this.lastTimestampIn;
      if (timestamp > Number.MAX_SAFE_INTEGER) timestamp = INFINITY; // saturate
      this.lastTimestampIn = timestamp;
      return timestamp;
    }

    decodeBound(encoded) {
      const timestamp = this.decodeTimestampIn(encoded);
      const len = decodeVarInt(encoded);
      if (len > ID_SIZE) throw new Error('bound key too long');
      return { timestamp, id: getBytes(encoded, len) };
    }
  }

  // The responder: answers every message (at least the version byte), lists its own ids
  // for every IdList range it receives.
  class NegentropyResponder extends Negentropy {
    initiate() {
      throw new Error('the responder does not initiate');
    }

    // query: hex string from the initiator; returns the hex reply. Throws on a malformed
    // message (the relay answers NEG-ERR).
    reconcile(queryHex) {
      const query = new Reader(fromHex(queryHex));
      this.lastTimestampIn = this.lastTimestampOut = 0; // reset for each message

      const fullOutput = new Writer();
      fullOutput.extend([PROTOCOL_VERSION]);

      const protocolVersion = getBytes(query, 1)[0];
      if (protocolVersion < 0x60 || protocolVersion > 0x6f) throw new Error('invalid negentropy protocol version byte');
      if (protocolVersion !== PROTOCOL_VERSION) return toHex(fullOutput.unwrap()); // "our version is 1"

      const storage = this.storage;
      const storageSize = storage.size();
      let prevBound = this._bound(0);
      let prevIndex = 0;
      let skip = false;

      while (query.length !== 0) {
        let o = new Writer();
        const doSkip = () => {
          if (skip) {
            skip = false;
            o.extend(this.encodeBound(prevBound));
            o.extend(encodeVarInt(Mode.Skip));
          }
        };

        const currBound = this.decodeBound(query);
        const mode = decodeVarInt(query);

        const lower = prevIndex;
        let upper = storage.findLowerBound(prevIndex, storageSize, currBound);

        if (mode === Mode.Skip) {
          skip = true;
        } else if (mode === Mode.Fingerprint) {
          const theirFingerprint = getBytes(query, FINGERPRINT_SIZE);
          const ourFingerprint = storage.fingerprint(lower, upper);
          if (Buffer.compare(theirFingerprint, ourFingerprint) !== 0) {
            doSkip();
            this.splitRange(lower, upper, currBound, o);
          } else {
            skip = true;
          }
        } else if (mode === Mode.IdList) {
          const numIds = decodeVarInt(query);
          if (numIds * ID_SIZE > query.length) throw new Error('parse ends prematurely');
          getBytes(query, numIds * ID_SIZE); // their ids do not change our answer

          doSkip();
          const responseIds = new Writer();
          let numResponseIds = 0;
          let endBound = currBound;
          storage.iterate(lower, upper, (item, index) => {
            if (this.exceededFrameSizeLimit(fullOutput.length + responseIds.length)) {
              endBound = { timestamp: item.timestamp, id: item.id }; // Bound(item): full id
              upper = index; // the rest of the range goes into the trailing fingerprint
              return false;
            }
            responseIds.extend(item.id);
            numResponseIds++;
            return true;
          });
          o.extend(this.encodeBound(endBound));
          o.extend(encodeVarInt(Mode.IdList));
          o.extend(encodeVarInt(numResponseIds));
          o.extend(responseIds.unwrap());
          fullOutput.extend(o.unwrap());
          o = new Writer();
        } else {
          throw new Error('unexpected mode');
        }

        if (this.exceededFrameSizeLimit(fullOutput.length + o.length)) {
          // Frame full: stop here and send one fingerprint for everything after `upper`.
          const remainingFingerprint = storage.fingerprint(upper, storageSize);
          fullOutput.extend(this.encodeBound(this._bound(INFINITY)));
          fullOutput.extend(encodeVarInt(Mode.Fingerprint));
          fullOutput.extend(remainingFingerprint);
          break;
        }
        fullOutput.extend(o.unwrap());

        prevIndex = upper;
        prevBound = currBound;
      }

      return toHex(fullOutput.unwrap());
    }
  }

  return {
    Negentropy,
    NegentropyResponder,
    NegentropyStorageVector: nip77.NegentropyStorageVector,
    NostrToolsNegentropy: Base, // unmodified, for comparisons
  };
}

let loading = null;
function loadNegentropy() {
  if (!loading) loading = import(pathToFileURL(NIP77_JS).href).then(build);
  return loading;
}

module.exports = { loadNegentropy, encodeVarInt, decodeVarInt, PROTOCOL_VERSION, NIP77_JS };
