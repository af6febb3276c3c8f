#!/usr/bin/python3
"""fast_relay_test.py - protocol checks for bench/fast_relay with a hand-written WebSocket
client (stdlib only): REQ since/until/limit/authors/ids and the cap, several filters, CLOSE,
EVENT OK (fast path and fallback), --verify, --ok-delay ordering, NIP-11 and 426 replies,
backpressure against a client that floods REQs without reading,
frames sent in the same packet as the Upgrade, ping/pong, close handshake, oversize
messages (1009), invalid UTF-8 (1007), and clients vanishing mid-frame.

Usage: fast_relay_test.py BUILD_DIR     (exit 0 when every check passes)
"""
import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WS:
    def __init__(self, port, extra=b""):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(os.urandom(16))
        req = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
               b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.s.sendall(req + extra)  # extra: frames in the same packet as the request
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            assert chunk, "closed during handshake"
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        want = base64.b64encode(hashlib.sha1(key + GUID).digest())
        assert b"Sec-WebSocket-Accept: " + want in head, head
        assert b"Sec-WebSocket-Extensions" not in head

    @staticmethod
    def frame(payload, opcode=1, fin=True):
        if isinstance(payload, str):
            payload = payload.encode()
        mask = os.urandom(4)
        n = len(payload)
        hdr = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack("!Q", n)
        return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    def send(self, payload, opcode=1):
        self.s.sendall(self.frame(payload, opcode))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def recv_frame(self):
        self._need(2)
        op, n = self.buf[0] & 0x0F, self.buf[1] & 0x7F
        assert not self.buf[1] & 0x80, "server frames must not be masked"
        off = 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n)
        data, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return op, data

    def recv(self):
        op, data = self.recv_frame()
        assert op == 1, (op, data)
        return json.loads(data)

    def req(self, subid, *filters):
        self.send(json.dumps(["REQ", subid, *filters]))
        out = []
        while True:
            m = self.recv()
            if m[0] == "EOSE":
                assert m[1] == subid
                return out
            assert m[0] == "EVENT" and m[1] == subid, m
            out.append(m[2])

    def close(self):
        self.s.close()


def start(build, *args):
    p = subprocess.Popen([os.path.join(build, "bench", "fast_relay"), "--port", "0", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    assert line and line[0] == "LISTENING", line
    return p, int(line[1])


def stop(p):
    p.terminate()
    _, err = p.communicate(timeout=5)
    assert p.returncode == 0, (p.returncode, err)
    return err


def http(port, request):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(request)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data


def check_req(port):
    ws = WS(port)
    evs = ws.req("all", {})
    assert len(evs) == 100, len(evs)  # --req-limit 100
    cas = [e["created_at"] for e in evs]
    assert cas == sorted(cas, reverse=True) and cas[0] == 1700000000 + 999, cas[:3]
    evs = ws.req("win", {"since": 1700000010, "until": 1700000019})
    assert [e["created_at"] for e in evs] == list(range(1700000019, 1700000009, -1))
    assert len(ws.req("lim", {"limit": 3})) == 3
    assert ws.req("none", {"limit": 0}) == []
    assert ws.req("tag", {"#e": ["00" * 32]}) == []
    assert ws.req("k", {"kinds": [7]}) == []
    one = evs[0]
    assert [e["id"] for e in ws.req("ids", {"ids": [one["id"]]})] == [one["id"]]
    by = ws.req("au", {"authors": [one["pubkey"]], "limit": 1000})
    assert len(by) == 1000 // 16 or len(by) == 1000 // 16 + 1, len(by)
    assert all(e["pubkey"] == one["pubkey"] for e in by)
    # Two overlapping filters: each event once.
    evs = ws.req("two", {"since": 1700000010, "until": 1700000019}, {"since": 1700000015, "until": 1700000024})
    assert sorted(e["created_at"] for e in evs) == list(range(1700000010, 1700000025)), evs
    ws.send('["CLOSE","all"]')
    ws.send('["REQ","bad",{"since":"x"}]')
    m = ws.recv()
    assert m[0] == "CLOSED" and m[1] == "bad" and m[2].startswith("invalid:"), m
    ws.send('["FOO"]')
    assert ws.recv()[0] == "NOTICE"
    ws.send('not json')
    assert ws.recv()[0] == "NOTICE"
    ws.close()


def check_events(port, verify):
    lines = open(EVENTS).read().split("\n")[:3]
    ws = WS(port, extra=WS.frame('["EVENT",' + lines[0] + "]"))  # frame in the Upgrade packet
    m = ws.recv()
    assert m == ["OK", json.loads(lines[0])["id"], True, ""], m
    # Whitespace the fast path does not take, handled by the fallback.
    e = json.loads(lines[1])
    ws.send(json.dumps(["EVENT", e], indent=1))
    assert ws.recv() == ["OK", e["id"], True, ""]
    bad = dict(json.loads(lines[2]), content="tampered")
    ws.send(json.dumps(["EVENT", bad]))
    m = ws.recv()
    if verify:
        assert m[0] == "OK" and m[1] == bad["id"] and m[2] is False and m[3].startswith("invalid:"), m
    else:
        assert m == ["OK", bad["id"], True, ""], m
    ws.send('["EVENT",{"content":"no id"}]')
    m = ws.recv()
    assert m[0] == "OK" and m[2] is False and m[3].startswith("invalid:"), m
    # ping -> pong, then a clean close handshake.
    ws.send(b"hello", opcode=9)
    assert ws.recv_frame() == (10, b"hello")
    ws.send(struct.pack("!H", 1000), opcode=8)
    op, data = ws.recv_frame()
    assert op == 8, op
    assert ws.s.recv(10) == b""  # the relay closes TCP after its close frame
    ws.close()


def check_ok_delay(build):
    p, port = start(build, "--ok-delay", "50", "--serve", "10")
    lines = open(EVENTS).read().split("\n")[:20]
    ws = WS(port)
    t0 = time.monotonic()
    for l in lines[:10]:
        ws.send('["EVENT",' + l + "]")
    ws.send('["REQ","s",{"limit":1}]')  # must come after the 10 held OKs
    for l in lines[10:]:
        ws.send('["EVENT",' + l + "]")
    got = [ws.recv() for _ in range(22)]
    dt = time.monotonic() - t0
    ids = [json.loads(l)["id"] for l in lines]
    assert [m[1] for m in got[:10]] == ids[:10], got
    assert got[10][0] == "EVENT" and got[11] == ["EOSE", "s"], got[10:12]
    assert [m[1] for m in got[12:]] == ids[10:]
    assert 0.045 < dt < 0.5, dt
    ws.close()
    stop(p)


def rss_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def check_backpressure(p, port):
    # 1500 REQs of 100 events each (~60 MB of replies) without reading: the relay must stop
    # parsing input instead of queueing it all, then deliver every reply once we read.
    before = rss_kib(p.pid)
    ws = WS(port)
    ws.s.sendall(b"".join(WS.frame('["REQ","s%d",{}]' % i) for i in range(1500)))
    time.sleep(1.0)
    grown = rss_kib(p.pid) - before
    assert grown < 30 * 1024, "relay grew by %d KiB" % grown
    eose = events = 0
    while eose < 1500:
        op, data = ws.recv_frame()
        if data.startswith(b'["EOSE"'):
            eose += 1
        else:
            events += 1
    assert events == 1500 * 100, events
    ws.close()
    return grown


def check_abuse(port):
    # Not a WebSocket request: NIP-11 for application/nostr+json, 426 otherwise.
    r = http(port, b"GET / HTTP/1.1\r\nHost: x\r\nAccept: application/nostr+json\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 200") and b'"supported_nips"' in r, r
    r = http(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 426"), r
    r = http(port, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 405"), r
    r = http(port, b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 9000 + b"\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 431"), r[:40]
    # Oversize message: close 1009.
    ws = WS(port)
    ws.send("x" * (70 * 1024))
    op, data = ws.recv_frame()
    assert op == 8 and struct.unpack("!H", data[:2])[0] == 1009, (op, data)
    ws.close()
    # Invalid UTF-8 in a text frame: close 1007.
    ws = WS(port)
    ws.send(b'["EVENT",{"content":"\xff\xfe"}]')
    op, data = ws.recv_frame()
    assert op == 8 and struct.unpack("!H", data[:2])[0] == 1007, (op, data)
    ws.close()
    # Vanishing mid-frame, mid-handshake, and with unread replies; the relay must survive.
    for cut in (1, 5, 40):
        ws = WS(port)
        ws.s.sendall(WS.frame('["REQ","x",{}]')[:cut])
        ws.close()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nUpgr")
    s.close()
    ws = WS(port)
    for _ in range(200):
        ws.send('["REQ","x",{}]')
    ws.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.close()  # RST with lots of output queued for us
    # Fragmented message (continuation frames) is reassembled.
    ws = WS(port)
    msg = '["REQ","frag",{"limit":2}]'
    ws.s.sendall(ws.frame(msg[:10], opcode=1, fin=False) + ws.frame(msg[10:], opcode=0, fin=True))
    assert len([ws.recv() for _ in range(3)]) == 3
    ws.close()
    # Still alive.
    ws = WS(port)
    assert len(ws.req("alive", {"limit": 1})) == 1
    ws.close()


def main():
    global EVENTS
    grown = 0
    build = sys.argv[1]
    EVENTS = "/tmp/fast_relay_test_%d.jsonl" % os.getpid()
    subprocess.run([os.path.join(build, "bench", "raw_ws_client"), "--gen-file", "20", EVENTS], check=True)
    try:
        p, port = start(build, "--serve", "1000", "--req-limit", "100", "--max-message", "65536")
        check_req(port)
        check_events(port, verify=False)
        check_abuse(port)
        grown = check_backpressure(p, port)
        err = stop(p)
        assert "fast_relay: connections=" in err, err
        p, port = start(build, "--verify")
        check_events(port, verify=True)
        stop(p)
        check_ok_delay(build)
    finally:
        os.unlink(EVENTS)
    print("fast_relay_test: all checks passed (REQ flood grew the relay by %d KiB)" % grown)


if __name__ == "__main__":
    main()
