// gen-events.js - signed Nostr events with awkward content, made by nostr-tools, as reference
// vectors for our own canonical serializer, id hashing and signature checks.
//
//   node tests/vectors/gen-events.js > tests/data/nostr-events.jsonl
//
// stdout: one event per line, the object nostr-tools' finalizeEvent() returns (keys kind,
// created_at, tags, content, pubkey, id, sig), written with JSON.stringify.
// It also writes tests/data/nostr-events-expected.jsonl (or the file named by --expected FILE):
// one line per event, same order, {"id", "serialized", "name"} where "serialized" is the exact
// string nostr-tools hashes for the id and "name" says what the case is about.
//
// nostr-tools comes from tests/relay/node_modules (pinned 2.25.2 by tests/relay/package.json;
// run tests/relay/install.sh first). It is required by a path relative to this file, so the
// working directory and NODE_PATH do not matter.
//
// nostr-tools functions used: finalizeEvent (pubkey, id, sig), getPublicKey, serializeEvent
// (JSON.stringify([0,pubkey,created_at,kind,tags,content])), getEventHash (sha256 of its UTF-8)
// and verifyEvent. @noble/curves (the copy nostr-tools itself loads) is used for schnorr.sign.
//
// Determinism: secret keys and created_at are fixed. finalizeEvent signs with 32 random bytes
// of BIP-340 aux_rand, so its sig differs on every run; we replace that sig with one made by the
// same library from the same id and key with aux_rand = 32 zero bytes (allowed by BIP-340), so
// re-running reproduces both files byte for byte. Pass --random-sig to keep finalizeEvent's own
// signature (then only the sig fields change between runs; ids and serializations never do).
//
// Every event is checked before anything is written: verifyEvent on a fresh JSON round trip
// (finalizeEvent marks its result as verified and verifyEvent would trust that mark), the id
// recomputed from serializeEvent, and serializeEvent compared with our own reading of the
// JSON.stringify escaping rule (the rule our C serializer implements, see /work/shared/NOTES.md).
'use strict';

const fs = require('fs');
const path = require('path');

const NT_DIR = path.join(__dirname, '..', 'relay', 'node_modules', 'nostr-tools');
const nt = require(NT_DIR);
const { schnorr } = require(require.resolve('@noble/curves/secp256k1.js', { paths: [NT_DIR] }));
const { sha256 } = require(require.resolve('@noble/hashes/sha2.js', { paths: [NT_DIR] }));

const args = process.argv.slice(2);
let expectedPath = path.join(__dirname, '..', 'data', 'nostr-events-expected.jsonl');
let randomSig = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--expected' && i + 1 < args.length) expectedPath = args[++i];
  else if (args[i] === '--random-sig') randomSig = true;
  else {
    process.stderr.write('usage: gen-events.js [--expected FILE] [--random-sig] > events.jsonl\n');
    process.exit(2);
  }
}

const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => Uint8Array.from(Buffer.from(s, 'hex'));

// Fixed secret keys. KEY_ONE is the scalar 1, so its pubkey is the x coordinate of the
// secp256k1 generator (79be667e...): easy to recognise in a dump.
const KEY_ONE = unhex('0000000000000000000000000000000000000000000000000000000000000001');
const KEY_A = unhex('5f3a1e7c9b2d4f608172a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8');
const KEY_B = unhex('c0ffee00deadbeef0123456789abcdeffedcba98765432100f1e2d3c4b5a6978');
const KEYS = [KEY_A, KEY_B, KEY_ONE];

const T0 = 1700000000; // base created_at; cases add their index so no two events share one

const cases = [];
function add(name, tmpl) {
  cases.push({ name, tmpl });
}

// --- plain and empty ---
add('plain ascii', { kind: 1, tags: [], content: 'hello, nostr' });
add('empty content, empty tags', { kind: 1, tags: [], content: '' });
add('whitespace only', { kind: 1, tags: [], content: ' \t\n \r\n ' });

// --- every C0 control character alone, between two letters so the escape is delimited ---
for (let c = 0; c < 0x20; c++) {
  add(`control 0x${c.toString(16).padStart(2, '0')} in content`, {
    kind: 1,
    tags: [],
    content: `a${String.fromCharCode(c)}b`,
  });
}
add('DEL 0x7f in content', { kind: 1, tags: [], content: 'a\x7fb' });
add('all C0 controls and DEL in one content', {
  kind: 1,
  tags: [],
  content: Array.from({ length: 32 }, (_, c) => String.fromCharCode(c)).join('') + '\x7f',
});
add('NUL at both ends of content', { kind: 1, tags: [], content: '\x00middle\x00' });

// --- control characters in tags ---
add('each C0 control as its own tag value', {
  kind: 1,
  tags: Array.from({ length: 32 }, (_, c) => ['c', String.fromCharCode(c)]),
  content: 'controls in tag values',
});
add('controls and DEL inside tag values and names', {
  kind: 1,
  tags: [
    ['t', 'x\x0by\x0ez\x0f'],
    ['\x1a', '\x1b[0m', '\x1c\x1d\x1e\x1f'],
    ['e', '\x00', '\x7f'],
    ['p', '\b\f\n\r\t'],
  ],
  content: '',
});

// --- JSON syntax characters ---
add('quotes and backslashes', {
  kind: 1,
  tags: [['q', '"', '\\', '\\"', '"\\']],
  content: 'she said "hi" \\ and \\\\ and \\" and "\\n" (backslash n, not a newline)',
});
add('slash and html specials', {
  kind: 1,
  tags: [['r', 'https://example.com/a/b?c=d&e=<f>']],
  content: '</script><b>&amp;</b> a/b // \\/ <>&\'',
});
add('escape-looking ascii text', {
  kind: 1,
  tags: [['u', '\\u0000', '\\ud83d\\ude00']],
  content: 'literal backslash-u text: \\ud83d\\ude00 \\u2028 \\u0041 \\n \\t',
});

// --- Unicode ---
add('emoji astral plane', { kind: 1, tags: [], content: '😀 🎉 🚀 𝄞 𝕏 🀄 \u{1F600}' });
add('emoji with skin tone and flags', { kind: 1, tags: [], content: '👍🏽 👋🏿 🇩🇪 🇯🇵 🏴󠁧󠁢󠁳󠁣󠁴󠁿' });
add('ZWJ sequences', {
  kind: 1,
  tags: [['emoji', '👨‍👩‍👧‍👦']],
  content: '👨‍👩‍👧‍👦 🏳️‍🌈 👩🏽‍💻 🧑‍🤝‍🧑 ❤️‍🔥',
});
add('surrogate pair written as a real character', {
  kind: 7,
  tags: [],
  content: '\ud83d\ude00', // the JS escape makes the one character U+1F600, not the escape text
});
add('CJK', { kind: 1, tags: [['t', '日本語']], content: '日本語のテキスト。中文内容，한국어 텍스트 〜ｶﾀｶﾅ' });
add('RTL with direction marks', {
  kind: 1,
  tags: [['t', 'עברית']],
  content: 'مرحبا بالعالم \u200f(RLM) \u200e(LRM) \u202eoverride\u202c שלום עולם',
});
add('U+2028 and U+2029', {
  kind: 1,
  tags: [['x', '\u2028', '\u2029']],
  content: 'line\u2028separator and paragraph\u2029separator',
});
add('BMP oddities: BOM, ZWSP, combining, U+FFFD, U+FFFF', {
  kind: 1,
  tags: [],
  content: '\ufeffBOM e\u0301 zero\u200bwidth \ufffd \uffff \ue000 \u00a0nbsp \u0085NEL',
});
add('highest code point U+10FFFF and C1 controls', {
  kind: 1,
  tags: [['m', '\u{10FFFF}']],
  content: '\u{10FFFF}\u{10000}\u0080\u009f',
});
add('mixed scripts and emoji in every field', {
  kind: 1,
  tags: [['t', '😀'], ['title', 'Ünïcödé "quoted"\n'], ['ключ', 'значение']],
  content: 'Ελληνικά Русский हिन्दी ไทย 😀\n"end"',
});

// --- sizes ---
add('content 64 KiB ascii', { kind: 1, tags: [], content: 'abcdefgh'.repeat(8192) });
add('content 100 KiB ascii', { kind: 1, tags: [], content: 'x'.repeat(102400) });
add('content 64 KiB of UTF-8 in 4-byte characters', { kind: 1, tags: [], content: '😀'.repeat(16384) });
add('content 10000 newlines and quotes', { kind: 1, tags: [], content: '\n"'.repeat(5000) });
add('2000 tags', {
  kind: 1,
  tags: Array.from({ length: 2000 }, (_, i) => ['t', `tag${i}`]),
  content: 'many tags',
});
add('one tag value of 20000 chars', { kind: 1, tags: [['d', 'v'.repeat(20000)]], content: '' });

// --- tag shapes ---
add('empty-string values after the first element', {
  kind: 1,
  tags: [['e', ''], ['p', '', ''], ['t', 'x', '', ''], ['r', '', 'x']],
  content: 'empty tag values',
});
// No empty tag names and no empty tag arrays ([''] or [[]]): nostr-tools signs them, but our
// parser (common/event.c) refuses them by policy, and these vectors are all meant to be accepted.
add('single-element tags', { kind: 1, tags: [['t'], ['nonce']], content: '' });
add('long tag with 100 elements', {
  kind: 1,
  tags: [['x', ...Array.from({ length: 99 }, (_, i) => String(i))]],
  content: '',
});

// --- kinds ---
add('kind 0 metadata with JSON content', {
  kind: 0,
  tags: [],
  content: JSON.stringify({
    name: 'alice',
    about: 'line one\nline "two"\t\\',
    picture: 'https://example.com/a.png',
    nip05: 'alice@example.com',
  }),
});
add('kind 3 contact list', {
  kind: 3,
  tags: [
    ['p', hex(schnorr.getPublicKey(KEY_A)), 'wss://relay.example.com/', 'alice'],
    ['p', hex(schnorr.getPublicKey(KEY_B)), '', ''],
    ['p', hex(schnorr.getPublicKey(KEY_ONE))],
  ],
  content: '',
});
add('kind 5 deletion', {
  kind: 5,
  tags: [
    ['e', 'a'.repeat(64)],
    ['e', '0'.repeat(64)],
    ['k', '1'],
  ],
  content: 'posted by mistake',
});
add('kind 7 reaction plus', {
  kind: 7,
  tags: [['e', 'f'.repeat(64)], ['p', hex(schnorr.getPublicKey(KEY_B))]],
  content: '+',
});
add('kind 7 custom emoji reaction', {
  kind: 7,
  tags: [['e', '1'.repeat(64)], ['emoji', 'soapbox', 'https://example.com/soapbox.png']],
  content: ':soapbox:',
});
add('kind 9 chat message', { kind: 9, tags: [['h', 'group-id']], content: 'hi group 👋' });
add('kind 10002 relay list', {
  kind: 10002,
  tags: [['r', 'wss://a.example.com/'], ['r', 'wss://b.example.com', 'read'], ['r', 'wss://c.example.com', 'write']],
  content: '',
});
add('kind 30023 long-form with markdown', {
  kind: 30023,
  tags: [
    ['d', 'my-article'],
    ['title', 'A "title" with <html> & \\backslash'],
    ['published_at', '1700000000'],
    ['t', 'nostr'],
  ],
  content: '# Heading\n\nSome *markdown* with `code` and a [link](https://example.com/?a=1&b=2).\n\n```c\nprintf("%s\\n", s);\n```\n',
});
add('kind 65535', { kind: 65535, tags: [], content: 'highest kind' });
add('kind 30000 with empty d tag', { kind: 30000, tags: [['d', '']], content: '' });
add('kind 1059 style opaque base64 content', {
  kind: 1059,
  tags: [['p', hex(schnorr.getPublicKey(KEY_A))]],
  content: 'AqXhY/b+/7x1TmZ0WQ==+/=',
});

// --- created_at ---
add('created_at 0', { kind: 1, created_at: 0, tags: [], content: 'epoch' });
add('created_at 2147483647 (int32 max)', { kind: 1, created_at: 2147483647, tags: [], content: 'y2038' });
add('created_at 4102444800 (2100-01-01)', { kind: 1, created_at: 4102444800, tags: [], content: 'year 2100' });
add('created_at 4294967296 (2^32)', { kind: 1, created_at: 4294967296, tags: [], content: '2^32' });
add('created_at 9007199254740991 (2^53-1)', {
  kind: 1,
  created_at: 9007199254740991,
  tags: [],
  content: 'largest integer a JS number holds exactly',
});

// --- same content, different keys (ids must differ only through pubkey) ---
add('same template signed by key one', { kind: 1, created_at: T0, tags: [], content: 'same', key: KEY_ONE });
add('same template signed by key B', { kind: 1, created_at: T0, tags: [], content: 'same', key: KEY_B });

// Our reading of JSON.stringify for strings: named escapes for " \ \b \f \n \r \t, lowercase
// \u00xx for the other code units below 0x20, everything else (DEL, U+2028, non-ASCII) as is.
// Lone surrogates would be escaped too, but no case contains one (checked below).
const NAMED = { 0x22: '\\"', 0x5c: '\\\\', 0x08: '\\b', 0x0c: '\\f', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t' };
function quote(s) {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (c >= 0xd800 && c <= 0xdfff) throw new Error('lone surrogate in a case');
    if (NAMED[c]) out += NAMED[c];
    else if (c < 0x20) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out + '"';
}
function canonical(ev) {
  const tags = '[' + ev.tags.map((t) => '[' + t.map(quote).join(',') + ']').join(',') + ']';
  return `[0,"${ev.pubkey}",${ev.created_at},${ev.kind},${tags},${quote(ev.content)}]`;
}

const ZERO_AUX = new Uint8Array(32);
const eventLines = [];
const expectedLines = [];

cases.forEach(({ name, tmpl }, i) => {
  const key = tmpl.key || KEYS[i % KEYS.length];
  // Key order of the result: kind, created_at, tags, content (ours), then pubkey, id, sig
  // (added by finalizeEvent).
  const t = {
    kind: tmpl.kind,
    created_at: tmpl.created_at !== undefined ? tmpl.created_at : T0 + i,
    tags: tmpl.tags,
    content: tmpl.content,
  };
  const ev = nt.finalizeEvent(t, key);
  if (!randomSig) ev.sig = hex(schnorr.sign(unhex(ev.id), key, ZERO_AUX));

  const line = JSON.stringify(ev);
  const fresh = JSON.parse(line); // no "verified" mark: verifyEvent really checks
  if (!nt.verifyEvent(fresh)) throw new Error(`case ${i} (${name}): verifyEvent failed`);
  const serialized = nt.serializeEvent(fresh);
  if (nt.getEventHash(fresh) !== ev.id) throw new Error(`case ${i} (${name}): id mismatch`);
  if (hex(sha256(new TextEncoder().encode(serialized))) !== ev.id)
    throw new Error(`case ${i} (${name}): sha256(serialized) != id`);
  if (serialized !== JSON.stringify([0, ev.pubkey, ev.created_at, ev.kind, ev.tags, ev.content]))
    throw new Error(`case ${i} (${name}): serializeEvent is not the documented JSON.stringify form`);
  if (canonical(fresh) !== serialized)
    throw new Error(`case ${i} (${name}): escaping rule disagrees with JSON.stringify`);
  if (ev.pubkey !== nt.getPublicKey(key)) throw new Error(`case ${i} (${name}): pubkey mismatch`);

  eventLines.push(line);
  expectedLines.push(JSON.stringify({ id: ev.id, serialized, name }));
});

const ids = new Set(cases.map((_, i) => JSON.parse(eventLines[i]).id));
if (ids.size !== cases.length) throw new Error('two cases produced the same id');

fs.writeFileSync(expectedPath, expectedLines.join('\n') + '\n');
process.stdout.write(eventLines.join('\n') + '\n');
process.stderr.write(`${cases.length} events verified; expected serializations in ${expectedPath}\n`);
