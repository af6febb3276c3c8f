"""The control socket under bad input, pipelining and resource limits. The daemon must
answer each bad request with its specific error code (or close cleanly for an over-long
line) and keep serving everyone else."""

import json
import os
import socket
import subprocess
import threading
import time

import pytest

import re

from conftest import rss_anon_kib, SOURCE_ROOT, Conn, wait_for


def error_code(reply):
    assert reply is not None, "connection closed instead of a reply"
    assert reply["ok"] is False, reply
    return reply["error"]["code"]


def still_serving(daemon):
    r = daemon.request({"id": "check", "op": "status"})
    assert r["ok"] is True and r["id"] == "check"


BAD_LINES = [
    (b"not json", "invalid_json"),
    (b"{\"id\": 1, \"op\": \"status\"", "invalid_json"),
    (b"\xff\xfe\x00garbage\x80\x81", "invalid_json"),
    (b"{\"op\": \"status\", \"op\": \"hello\"}", "invalid_json"),
    (b"{\"op\": \"\xc3\x28\"}", "invalid_json"),
    (b"[1, 2, 3]", "not_object"),
    (b"\"status\"", "not_object"),
    (b"42", "not_object"),
    (b"null", "not_object"),
    (b"{\"id\": {\"a\": 1}, \"op\": \"status\"}", "invalid_id"),
    (b"{\"id\": [1], \"op\": \"status\"}", "invalid_id"),
    (b"{\"id\": 7}", "missing_op"),
    (b"{\"id\": 7, \"op\": 5}", "invalid_field"),
    (b"{\"id\": 7, \"op\": null}", "invalid_field"),
    (b"{\"id\": 7, \"op\": \"stauts\"}", "unknown_op"),
    (b"{\"id\": 7, \"op\": \"\"}", "unknown_op"),
    (b"{\"id\": 7, \"op\": \"status\", \"verbose\": true}", "unknown_field"),
    (b"{\"id\": 7, \"op\": \"hello\", \"client\": 5}", "invalid_field"),
    # A NUL inside a name or enum would cut it short: refused, never read as the prefix.
    (b"{\"id\": 7, \"op\": \"status\\u0000;rm -rf\"}", "unknown_op"),
    (b"{\"id\": 7, \"op\": \"outbox\", \"state\": \"pending\\u0000x\"}", "invalid_field"),
    (b"{\"id\": 7, \"op\": \"sync\", \"group\": \"g1\\u0000junk\"}", "invalid_field"),
    (b"{\"id\": 7, \"op\": \"subscribe\", \"filters\": {}, \"relays\": [\"a\\u0000\"]}", "invalid_field"),
    # Numbers out of range are refused alike everywhere.
    (b"{\"id\": 7, \"op\": \"outbox\", \"limit\": -1}", "invalid_field"),
    (b"{\"id\": 7, \"op\": \"query\", \"filter\": {}, \"limit\": -1}", "invalid_field"),
]


@pytest.mark.parametrize("line,code", BAD_LINES, ids=[c + ":" + repr(l[:20]) for l, c in BAD_LINES])
def test_bad_request(daemon, line, code):
    c = daemon.conn()
    c.send_raw(line + b"\n")
    reply = c.recv()
    assert error_code(reply) == code
    assert reply["error"]["message"]
    if b"\"id\": 7" in line:
        assert reply["id"] == 7
    # The same connection keeps working after the error.
    assert c.request({"id": 1, "op": "hello"})["ok"] is True
    c.close()
    still_serving(daemon)


def test_ids_of_every_scalar_type_are_echoed(daemon):
    c = daemon.conn()
    for rid in ["abc", 12, -3, 1.5, True, False, None, "a\u0000b", "\u00e9\u2028"]:
        r = c.request({"id": rid, "op": "hello"})
        assert r["ok"] is True and r["id"] == rid
    c.send_raw(b"{\"op\": \"hello\"}\n")
    r = c.recv()
    assert r["ok"] is True and r["id"] is None
    c.close()


def test_hello_and_status(daemon):
    r = daemon.request({"id": 1, "op": "hello", "client": "pytest"})["result"]
    with open(os.path.join(SOURCE_ROOT, "common", "proto.h")) as f:
        version = int(re.search(r"#define RP_PROTO_VERSION (\d+)", f.read()).group(1))
    assert r["daemon"] == "relaypoold" and r["protocol"] == version
    assert {"hello", "status", "reload"} <= set(r["ops"])
    s = daemon.request({"id": 2, "op": "status"})["result"]
    assert s["pid"] == daemon.proc.pid
    assert s["config"] == os.path.realpath(daemon.config)
    assert s["relays"] == [] and s["groups"] == []
    assert s["uptime_s"] >= 0


def test_blank_lines_and_crlf(daemon):
    c = daemon.conn()
    c.send_raw(b"\n   \n\r\n{\"id\": 1, \"op\": \"hello\"}\r\n")
    r = c.recv()
    assert r["id"] == 1 and r["ok"] is True
    c.close()


def test_pipelined_1000_status_on_one_connection(daemon):
    c = daemon.conn()
    payload = b"".join(b"{\"id\": %d, \"op\": \"status\"}\n" % i for i in range(1000))
    c.send_raw(payload)
    ids = set()
    for _ in range(1000):
        r = c.recv()
        assert r["ok"] is True
        ids.add(r["id"])
    assert ids == set(range(1000))
    c.close()


def test_pipelined_mixed_good_and_bad(daemon):
    c = daemon.conn()
    c.send_raw(b"{\"id\":1,\"op\":\"hello\"}\nnope\n{\"id\":2,\"op\":\"zz\"}\n{\"id\":3,\"op\":\"status\"}\n")
    replies = [c.recv() for _ in range(4)]
    assert [r["ok"] for r in replies] == [True, False, False, True]
    assert replies[1]["error"]["code"] == "invalid_json"
    assert replies[2]["error"]["code"] == "unknown_op" and replies[2]["id"] == 2
    c.close()


def test_over_long_line_closes_cleanly(daemon_factory):
    d = daemon_factory()
    d.write_config(daemon={"max_line": "1KiB"})
    d.start()
    other = d.conn()
    # Exactly at the limit is fine.
    c = d.conn()
    line = b"{\"id\": 1, \"op\": \"hello\", \"client\": \"" + b"x" * (1024 - 40) + b"\"}"
    assert len(line) <= 1024
    c.send_raw(line + b"\n")
    assert c.recv()["ok"] is True
    # One byte more than the limit, with or without a newline, closes the connection.
    for tail in (b"\n", b""):
        c2 = d.conn()
        c2.send_raw(b"{\"op\":\"hello\",\"client\":\"" + b"y" * 1100 + b"\"}" + tail)
        r = c2.recv()
        assert error_code(r) == "line_too_long"
        assert c2.recv() is None
        c2.close()
    assert other.request({"id": 5, "op": "status"})["ok"] is True
    assert d.stop() == 0


def test_huge_line_without_newline_is_not_buffered(daemon_factory):
    d = daemon_factory()
    d.write_config(daemon={"max_line": "4KiB"})
    d.start()
    c = d.conn()
    try:
        c.send_raw(b"{" + b"\"a\":1," * (2 << 20))
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = c.recv()
    assert error_code(r) == "line_too_long"
    still_serving(d)
    assert d.stop() == 0


def test_half_line_then_disconnect(daemon):
    for _ in range(20):
        c = daemon.conn()
        c.send_raw(b"{\"id\": 1, \"op\": \"sta")
        c.close()
    still_serving(daemon)
    assert "incomplete line" in daemon.logtext()


def test_garbage_flood_on_many_connections(daemon):
    rnd = os.urandom(256 * 1024)
    conns = [daemon.conn() for _ in range(10)]
    for c in conns:
        c.send_raw(rnd.replace(b"\n", b" ") + b"\n")
    for c in conns:
        assert error_code(c.recv()) in ("invalid_json", "not_object")
        c.close()
    still_serving(daemon)


def test_client_that_does_not_read_is_paused_not_buffered(daemon_factory):
    d = daemon_factory()
    d.write_config(daemon={"client_buffer": "64KiB"})
    d.start()
    slow = d.conn()
    n = 20000
    payload = b"".join(b"{\"id\":%d,\"op\":\"status\"}\n" % i for i in range(n))
    sender = threading.Thread(target=lambda: slow.send_raw(payload), daemon=True)
    sender.start()
    wait_for(lambda: "pausing its input" in d.logtext(), what="the daemon to pause the slow client")
    # Others are served while the slow client's replies wait.
    for _ in range(5):
        still_serving(d)
    got = 0
    while got < n:
        r = slow.recv()
        assert r is not None and r["ok"] is True
        got += 1
    sender.join(10)
    slow.close()
    assert d.stop() == 0


def test_max_clients(daemon_factory):
    d = daemon_factory()
    d.write_config(daemon={"max_clients": 2})
    d.start()
    # The readiness probe's connection may not be gone yet: wait until only we are there.
    wait_for(lambda: d.request({"id": 0, "op": "status"})["result"]["counts"]["clients"] == 1,
             what="the probe connection to go")
    a, b = d.conn(), d.conn()
    assert a.request({"id": 1, "op": "hello"})["ok"]
    assert b.request({"id": 1, "op": "hello"})["ok"]
    c = d.conn()
    assert error_code(c.recv()) == "too_many_clients"
    assert c.recv() is None
    a.close()
    wait_for(lambda: d.request({"id": 2, "op": "hello"})["ok"], what="a free client slot")
    b.close()
    assert d.stop() == 0


def run_as_nobody(path, line):
    """Connects as uid/gid 65534 and returns the first reply line (or the exception text)."""
    code = ("import socket,sys\n"
            "s=socket.socket(socket.AF_UNIX);s.settimeout(5)\n"
            "try:\n s.connect(sys.argv[1])\nexcept OSError as e:\n print('ERR',e.errno);sys.exit(0)\n"
            "s.sendall(sys.argv[2].encode()+b'\\n');b=b''\n"
            "while not b.endswith(b'\\n'):\n c=s.recv(4096)\n if not c: break\n b+=c\n"
            "print(b.decode().strip())\n")

    def drop():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    return subprocess.run(["/usr/bin/python3", "-c", code, path, line], capture_output=True, text=True,
                          preexec_fn=drop, timeout=20).stdout.strip()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another uid")
def test_peer_credentials_and_allow_list(daemon_factory, workdir):
    os.chmod(workdir, 0o755)
    d = daemon_factory()
    # The socket is 0660: a user outside its group cannot even connect.
    d.write_config()
    d.start()
    assert oct(os.stat(d.socket).st_mode & 0o777) == "0o660"
    assert run_as_nobody(d.socket, '{"id":1,"op":"hello"}').startswith("ERR 13")
    d.stop()
    # In the socket's group but not on the allow-list: refused with permission_denied.
    d.write_config(daemon={"socket_group": "nogroup", "allow_users": "daemon"})
    d.start()
    out = run_as_nobody(d.socket, '{"id":1,"op":"hello"}')
    assert '"permission_denied"' in out, out
    assert "uid 65534" in d.logtext() and "refusing client" in d.logtext()
    # Root is always allowed.
    still_serving(d)
    d.stop()
    # Allowed through its group.
    d.write_config(daemon={"socket_group": "nogroup", "allow_groups": "nogroup"})
    d.start()
    out = run_as_nobody(d.socket, '{"id":1,"op":"hello"}')
    assert '"ok":true' in out.replace(" ", ""), out
    # SO_PEERCRED identity is logged, never taken from the request.
    assert "uid 65534, gid 65534" in d.logtext()
    assert d.stop() == 0


def test_a_relay_cannot_flood_the_log(fault_factory, daemon_factory):
    f = fault_factory("--flood", "2000")
    d = daemon_factory()
    d.write_config(relays={"f": f.url}, pool={"sessions": "1"})
    d.start()

    def counted():
        rel = d.request({"id": 1, "op": "relays"})["result"]["relays"][0]
        s = rel["sessions"][0]["counters"]
        return rel["counters"]["notices"] >= 2000 and s["protocol_errors"] >= 2000 and s["unknown_oks"] >= 2000
    wait_for(counted, 60, what="the flood counted")
    log = d.logtext()
    # 2,000 of each: at most the burst (5) of each kind in a minute, and peer text escaped.
    assert log.count("NOTICE on session") <= 5, log.count("NOTICE on session")
    assert log.count("ignoring a malformed relay message") <= 5
    assert log.count("OK for an event we are not publishing") <= 5
    assert log.count("we do not have") <= 5
    assert "\\x07bell" in log and "\\x0ahere" in log and "\x07" not in log
    assert len(log.splitlines()) < 300, len(log.splitlines())
    assert d.stop() == 0


def test_queries_of_clients_that_never_read_stay_bounded(fault_factory, daemon_factory, workdir):
    import socket as so
    import subprocess
    from conftest import ctl, gen_events
    f = fault_factory()
    d = daemon_factory()
    d.write_config(relays={"f": f.url}, daemon={"client_buffer": "256KiB"})
    d.start()
    path = os.path.join(workdir, "events.jsonl")
    with open(path, "w") as fh:
        fh.write(gen_events(8000, seed="bounded-query", content_size=1000))
    r = ctl("publish", path, socket_path=d.socket, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    base = rss_anon_kib(d.proc.pid)
    # 50 clients, each pipelining 4 queries for all ~10 MB of events, none of them reading.
    clients = []
    for _ in range(50):
        s = so.socket(so.AF_UNIX, so.SOCK_STREAM)
        s.setsockopt(so.SOL_SOCKET, so.SO_RCVBUF, 16384)
        s.connect(d.socket)
        s.sendall(b"".join(json.dumps({"id": i, "op": "query", "filter": {}}).encode() + b"\n" for i in range(4)))
        clients.append(s)
    # Another client is still served.
    for _ in range(5):
        assert d.request({"id": "h", "op": "hello"})["ok"]
    wait_for(lambda: d.request({"id": "s", "op": "status"})["result"]["counts"]["clients"] >= 50, 20,
             what="the 50 clients connected")
    grown = rss_anon_kib(d.proc.pid) - base
    # Unbounded, 200 queries x ~10 MB would be ~2 GB; bounded, about 50 x 256 KiB plus rows in flight.
    if os.environ.get("RELAYPOOL_SANITIZED") != "1":
        assert grown < 100 * 1024, f"RssAnon grew {grown} KiB"
    # One of them reads now: it gets its whole answer.
    c = Conn.__new__(Conn)
    c.sock, c.buf = clients[0], b""
    clients[0].settimeout(120)
    ends = 0
    while ends < 4:
        m = c.recv()
        if m.get("end"):
            assert m["result"]["count"] == 8000
            ends += 1
    for s in clients:
        s.close()
    assert d.stop() == 0
