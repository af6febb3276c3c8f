"""The cache, the durable outbox and sync, end to end: kill -9 during a publish stream loses
no acknowledged event; sync from real relays fills the cache with exactly their union,
resumes after a crash without a gap, pages past a relay's per-REQ cap, drops invalid events;
replaceable semantics and query filters through relaypoolctl; a damaged or unwritable cache
stops the daemon with a clear error."""

import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from conftest import NODE, RELAY_DIR, RELAYPOOLCTL, RELAYPOOLD, ctl, free_port, gen_events, wait_for

FAST_POOL = {"backoff_base": "100ms", "backoff_max": "1s", "connect_timeout": "2s", "publish_timeout": "3s"}


def ids_of(text):
    return [json.loads(line)["id"] for line in text.splitlines() if line.strip()]


def start_daemon(factory, relays, pool=None, groups=None, daemon=None, name="d"):
    d = factory(name)
    d.write_config(relays=relays, pool={**FAST_POOL, **(pool or {})}, groups=groups, daemon=daemon)
    d.start()
    return d


def relays_state(d):
    return {x["name"]: x for x in d.request({"id": "r", "op": "relays"})["result"]["relays"]}


def wait_ready(d, name, timeout=15):
    wait_for(lambda: relays_state(d)[name]["sessions_ready"] == relays_state(d)[name]["sessions_configured"],
             timeout, what=f"relay {name} ready")


def status(d):
    return d.request({"id": "s", "op": "status"})["result"]


def pub_to_relay(url, path):
    r = subprocess.run([NODE, os.path.join(RELAY_DIR, "tools.js"), "pub", url, path], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr


def cache_rows(path):
    db = sqlite3.connect(path)
    try:
        events = db.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone()
        outbox = db.execute("SELECT count(*), count(DISTINCT oeid || '/' || relay) FROM outbox").fetchone()
        ids = {r[0].hex() for r in db.execute("SELECT id FROM events")}
    finally:
        db.close()
    return events, outbox, ids


def sync(d, *args, expect=0):
    r = ctl("--json", "sync", *args, socket_path=d.socket, timeout=300)
    assert r.returncode == expect, r.stdout[-3000:] + r.stderr
    return json.loads(r.stdout.splitlines()[-1])


# ---- durable outbox ----------------------------------------------------------------------------

def test_kill_9_during_publish_loses_no_acknowledged_event(relay_factory, daemon_factory):
    rel = relay_factory("slow").start()  # the npm relay verifies in JS: ~400 events/s
    d = start_daemon(daemon_factory, {"slow": rel.url}, pool={"sessions": 2, "inflight": 16, "publish_timeout": "30s"})
    wait_ready(d, "slow")
    events = gen_events(2000, seed="kill-9")
    path = os.path.join(d.dir, "events.jsonl")
    with open(path, "w") as f:
        f.write(events)
    out = open(os.path.join(d.dir, "ctl.out"), "w")
    proc = subprocess.Popen([RELAYPOOLCTL, "-s", d.socket, "publish", "--no-wait", path], stdout=out,
                            stderr=subprocess.DEVNULL)
    # Kill once a part is acknowledged but delivery is far from done.
    wait_for(lambda: sum(1 for _ in open(out.name)) >= 600, 60, what="acknowledgements")
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    proc.wait(30)
    out.close()
    acked = [line.split()[1] for line in open(out.name) if line.startswith("queued ")]
    assert len(acked) >= 600
    delivered_before = rel.ids()
    assert len(delivered_before) < 2000, "the kill came too late to test anything"
    # Restart: every pending row is delivered.
    d.start()
    wait_for(lambda: rel.ids() >= set(acked), 120, interval=0.5, what="redelivery of every acknowledged event")
    wait_for(lambda: status(d)["cache"]["outbox"]["pending"] == 0, 60, what="the outbox to drain")
    assert d.stop() == 0
    (n, distinct), (orows, odistinct), _ = cache_rows(d.cache)
    assert n == distinct and orows == odistinct, "a cache row is duplicated"
    assert n >= len(acked)


def test_pending_rows_survive_a_restart(relay_factory, daemon_factory):
    port = free_port()
    rel = relay_factory("later")
    d = start_daemon(daemon_factory, {"later": f"ws://127.0.0.1:{port}"})
    events = gen_events(20, seed="restart")
    r = ctl("publish", "--no-wait", "-", input=events, socket_path=d.socket)
    assert r.returncode == 0
    r = ctl("outbox", "--pending", socket_path=d.socket)
    assert r.returncode == 0 and r.stdout.count(" pending ") == 20 and "20 pending" in r.stdout
    assert d.stop() == 0  # SIGTERM: the rows stay pending
    rel.start(port=port)
    d.start()
    wait_for(lambda: rel.ids() == set(ids_of(events)), 30, what="delivery after the restart")
    wait_for(lambda: status(d)["cache"]["outbox"]["accepted"] == 20, 10, what="rows accepted")
    assert "outbox: resumed delivery of 20 pending events" in d.logtext()
    assert d.stop() == 0


def test_outbox_rejected_retry_and_drop(fault_factory, daemon_factory):
    f = fault_factory("--ok", "invalid")
    port = f.port
    d = start_daemon(daemon_factory, {"f": f.url})
    wait_ready(d, "f")
    events = gen_events(2, seed="outbox-ops")
    r = ctl("publish", "-", input=events, socket_path=d.socket)
    assert r.returncode == 1
    r = ctl("--json", "outbox", "--failed", socket_path=d.socket)
    rows = json.loads(r.stdout)["result"]["rows"]
    assert len(rows) == 2 and all(x["state"] == "rejected" and x["message"].startswith("invalid:") for x in rows)
    text = ctl("outbox", "--failed", socket_path=d.socket).stdout
    assert "rejected" in text and "invalid: test fixture rejects this" in text
    # The relay changes its mind; the operator retries one row by number, drops the other by event id.
    f.stop()
    f2 = fault_factory(port=port, name="fault2")
    wait_ready(d, "f", timeout=20)
    r = ctl("outbox", "retry", str(rows[0]["row"]), socket_path=d.socket)
    assert r.returncode == 0 and "re-armed 1 row" in r.stdout
    wait_for(lambda: f2.stats()["events_received"] == 1, 10, what="the retried event")
    wait_for(lambda: status(d)["cache"]["outbox"]["accepted"] == 1, 10, what="the row accepted")
    r = ctl("outbox", "drop", rows[1]["event_id"], socket_path=d.socket)
    assert r.returncode == 0 and "dropped 1 row" in r.stdout
    assert status(d)["cache"]["outbox"] == {"pending": 0, "accepted": 1, "rejected": 0, "expired": 0}
    assert ctl("outbox", "retry", "999999", socket_path=d.socket).returncode == 1
    assert ctl("outbox", "retry", "not-an-id", socket_path=d.socket).returncode == 2
    assert d.stop() == 0


def test_outbox_expires_after_max_age(daemon_factory):
    d = start_daemon(daemon_factory, {"down": f"ws://127.0.0.1:{free_port()}"}, pool={"max_age": "2s"})
    r = ctl("publish", "--no-wait", "-", input=gen_events(3, seed="expire"), socket_path=d.socket)
    assert r.returncode == 0
    wait_for(lambda: status(d)["cache"]["outbox"]["expired"] == 3, 15, what="expiry")
    rows = json.loads(ctl("--json", "outbox", "--failed", socket_path=d.socket).stdout)["result"]["rows"]
    assert all("expired: not delivered within max_age (2 s)" in x["message"] for x in rows)
    assert d.stop() == 0


# ---- sync ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def events_3000():
    return gen_events(3000, seed="sync-3000", tags=("t=sync",))


def test_sync_two_relays_union_then_only_new(relay_factory, daemon_factory, events_3000, tmp_path):
    lines = events_3000.splitlines()
    a_file, b_file = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a_file.write_text("\n".join(lines[:2000]) + "\n")
    b_file.write_text("\n".join(lines[1000:]) + "\n")
    a, b = relay_factory("a").start(), relay_factory("b").start()
    pub_to_relay(a.url, str(a_file))
    pub_to_relay(b.url, str(b_file))
    d = start_daemon(daemon_factory, {"a": a.url, "b": b.url},
                     groups={"g": {"relays": "a b", "filter": {"#t": ["sync"]}}})
    wait_ready(d, "a")
    wait_ready(d, "b")
    # REQ pagination (the negentropy method has tests of its own: test_negentropy.py)
    res = sync(d, "--group", "g", "--method", "req")["result"]["relays"]
    assert [x["status"] for x in res] == ["ok", "ok"]
    assert [x["method"] for x in res] == ["req", "req"]
    by = {x["relay"]: x for x in res}
    assert by["a"]["received"] >= 2000 and by["b"]["received"] >= 2000
    assert by["a"]["new"] + by["b"]["new"] == 3000
    assert by["a"]["pages"] >= 4  # 500 per page
    assert status(d)["cache"]["events"] == 3000
    # Every synced event is recorded as seen on its relay.
    _, _, ids = cache_rows(d.cache)
    assert ids == set(ids_of(events_3000))
    db = sqlite3.connect(d.cache)
    seen = db.execute("SELECT r.url, count(*) FROM seen s JOIN relays r ON r.relay = s.relay "
                      "WHERE s.flags & 1 GROUP BY r.url").fetchall()
    db.close()
    assert dict(seen) == {a.url + "/": 2000, b.url + "/": 2000}
    # A second sync starts at the cursor: nothing old comes back.
    new = gen_events(10, seed="sync-new", tags=("t=sync",), since=int(time.time()) - 20)
    nf = tmp_path / "new.jsonl"
    nf.write_text(new)
    pub_to_relay(a.url, str(nf))
    res = {x["relay"]: x for x in sync(d, "--group", "g", "--method", "req")["result"]["relays"]}
    # (received counts the last page's boundary second once more: pages overlap there.)
    assert res["a"]["new"] == 10 and 10 <= res["a"]["received"] <= 11
    assert res["b"]["received"] == 0
    assert status(d)["cache"]["events"] == 3010
    # Query the cache through relaypoolctl.
    r = ctl("query", '{"#t": ["sync"]}', "--limit", "5", socket_path=d.socket)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 5
    newest = sorted(ids_of(new))
    assert set(ids_of(r.stdout)) <= set(ids_of(new))
    assert len(newest) == 10
    assert d.stop() == 0


def test_sync_paginates_past_the_relays_cap_and_resumes_after_a_crash(fault_factory, daemon_factory, events_3000,
                                                                         tmp_path):
    served = tmp_path / "served.jsonl"
    served.write_text(events_3000)
    # 100 events per REQ at most, each REQ answered 100 ms late: 30+ pages, time to crash.
    f = fault_factory("--serve", str(served), "--req-limit", "100", "--req-delay", "100")
    d = start_daemon(daemon_factory, {"f": {"url": f.url, "sessions": 1}})
    wait_ready(d, "f")
    proc = subprocess.Popen([RELAYPOOLCTL, "-s", d.socket, "sync", "--relay", "f", "--filter", '{"kinds":[1]}'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: 300 <= status(d)["cache"]["events"], 60, interval=0.05, what="part of the sync stored")
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    proc.wait(10)
    _, _, partial = cache_rows(d.cache)
    assert 0 < len(partial) < 3000
    d.start()
    wait_ready(d, "f")
    res = sync(d, "--relay", "f", "--filter", '{"kinds":[1]}')["result"]["relays"][0]
    # The cursor never moved: the whole window came again, nothing is missing. (Pages overlap
    # on their boundary second, so a few events arrive twice.)
    assert res["received"] >= 3000 and res["new"] == 3000 - len(partial) and res["pages"] >= 30
    _, _, ids = cache_rows(d.cache)
    assert ids == set(ids_of(events_3000))
    assert d.stop() == 0


def test_sync_drops_invalid_events(fault_factory, daemon_factory, tmp_path):
    good = gen_events(20, seed="good", tags=("t=mix",)).splitlines()
    bad_sig = json.loads(good[0])
    bad_sig["sig"] = "0" * 128
    bad_id = json.loads(good[1])
    bad_id["content"] = "changed"
    other = json.loads(gen_events(1, seed="other-kind", kind=7, tags=("t=mix",)))
    lines = good[2:] + [json.dumps(bad_sig), json.dumps(bad_id), json.dumps(other), '{"not": "an event"}']
    served = tmp_path / "served.jsonl"
    served.write_text("\n".join(lines) + "\n")
    f = fault_factory("--serve", str(served))
    d = start_daemon(daemon_factory, {"f": f.url})
    wait_ready(d, "f")
    res = sync(d, "--relay", "f", "--filter", '{"kinds":[1]}')["result"]["relays"][0]
    # The fixture serves the kind-1 lines as they are (and the line that is no event at all);
    # the bad signature, the bad id and the non-event are dropped and counted.
    assert res["new"] == 18 and res["invalid"] == 3 and res["received"] == 21
    assert status(d)["cache"]["events"] == 18
    assert d.stop() == 0


def test_sync_retries_closed_rate_limited(fault_factory, daemon_factory, tmp_path):
    served = tmp_path / "s.jsonl"
    served.write_text(gen_events(30, seed="closed"))
    f = fault_factory("--serve", str(served), "--closed-first", "2", "rate-limited: slow down")
    d = start_daemon(daemon_factory, {"f": f.url})
    wait_ready(d, "f")
    res = sync(d, "--relay", "f", "--filter", "{}")["result"]["relays"][0]
    assert res["status"] == "ok" and res["new"] == 30
    assert "rate-limited: slow down; retrying" in d.logtext()
    assert d.stop() == 0


def test_sync_fails_cleanly_on_a_permanent_closed(fault_factory, daemon_factory, tmp_path):
    served = tmp_path / "s.jsonl"
    served.write_text(gen_events(5, seed="closed-perm"))
    f = fault_factory("--serve", str(served), "--closed-first", "100", "auth-required: log in first")
    d = start_daemon(daemon_factory, {"f": f.url})
    wait_ready(d, "f")
    reply = sync(d, "--relay", "f", "--filter", "{}", expect=1)
    assert reply["error"]["code"] == "sync_failed"
    assert "auth-required: log in first" in reply["error"]["relays"][0]["error"]
    r = ctl("sync", "--relay", "f", "--filter", "{}", socket_path=d.socket)
    assert r.returncode == 1 and "failed" in r.stdout
    assert d.stop() == 0


def test_sync_and_query_errors(relay, daemon_factory):
    d = start_daemon(daemon_factory, {"a": relay.url}, groups={"nofilter": {"relays": "a"}})
    req = lambda **kw: d.request({"id": 1, "op": "sync", **kw})["error"]["code"]  # noqa: E731
    assert req() == "missing_field"
    assert req(relay="a") == "missing_field"
    assert req(relay="zz", filter={}) == "unknown_relay"
    assert req(group="zz") == "unknown_group"
    assert req(group="nofilter") == "invalid_filter"
    assert req(relay="a", filter={"kinds": ["x"]}) == "invalid_filter"
    assert req(relay="a", group="nofilter") == "invalid_field"
    q = lambda **kw: d.request({"id": 1, "op": "query", **kw})["error"]["code"]  # noqa: E731
    assert q() == "missing_field"
    assert q(filter={"authors": ["abc"]}) == "invalid_filter"
    assert q(filters=[]) == "invalid_filter"
    assert q(filter={}, filters=[{}]) == "invalid_field"
    assert q(filter={}, limit=-1) == "invalid_field"
    assert ctl("query", socket_path=d.socket).returncode == 2
    assert ctl("query", "nope", socket_path=d.socket).returncode == 2
    assert ctl("sync", "--relay", "a", socket_path=d.socket).returncode == 2
    assert ctl("query", '{"authors":["npub1bogus"]}', socket_path=d.socket).returncode == 2
    assert d.stop() == 0


def test_query_accepts_npub_and_note(relay, daemon_factory):
    d = start_daemon(daemon_factory, {"a": relay.url})
    wait_ready(d, "a")
    ev = json.loads(gen_events(1, seed="nip19-query"))
    assert ctl("publish", "-", input=json.dumps(ev) + "\n", socket_path=d.socket).returncode == 0
    tools = os.path.join(RELAY_DIR, "node_modules", "nostr-tools")
    enc = subprocess.run([NODE, "-e", "const {nip19}=require(process.argv[1]);"
                          "console.log(nip19.npubEncode(process.argv[2]));console.log(nip19.noteEncode(process.argv[3]))",
                          tools, ev["pubkey"], ev["id"]], capture_output=True, text=True, check=True).stdout.split()
    r = ctl("query", json.dumps({"authors": [enc[0]]}), socket_path=d.socket)
    assert ids_of(r.stdout) == [ev["id"]]
    r = ctl("query", json.dumps({"ids": [enc[1]]}), socket_path=d.socket)
    assert ids_of(r.stdout) == [ev["id"]]
    assert d.stop() == 0


def test_replaceable_through_publish_and_query(relay, daemon_factory):
    d = start_daemon(daemon_factory, {"a": relay.url})
    wait_ready(d, "a")
    older = gen_events(1, seed="profile", kind=0, since=1000)
    newer = gen_events(1, seed="profile", kind=0, since=2000)
    for e in (older, newer, older):
        assert ctl("publish", "-", input=e, socket_path=d.socket).returncode == 0
    r = ctl("query", '{"kinds":[0]}', socket_path=d.socket)
    assert ids_of(r.stdout) == ids_of(newer)
    assert d.stop() == 0


# ---- a damaged or unwritable cache ------------------------------------------------------------

def test_corrupted_cache_stops_the_daemon(daemon_factory):
    d = daemon_factory()
    d.write_config()
    d.start()
    assert d.stop() == 0
    with open(d.cache, "r+b") as f:
        f.seek(0)
        f.write(b"garbage garbage garbage garbage")
    r = subprocess.run([RELAYPOOLD, "-c", d.config], capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert d.cache in r.stderr and ("not a database" in r.stderr or "corrupted" in r.stderr)
    assert os.path.getsize(d.cache) > 0  # never silently reset
    assert not os.path.exists(d.socket)


def test_damaged_pages_are_reported(daemon_factory):
    d = daemon_factory()
    d.write_config()
    d.start()
    assert d.stop() == 0
    db = sqlite3.connect(d.cache)
    db.execute("PRAGMA journal_mode=DELETE")
    db.close()
    size = os.path.getsize(d.cache)
    with open(d.cache, "r+b") as f:  # smash every page after the header page
        f.seek(4096)
        f.write(os.urandom(size - 4096))
    r = subprocess.run([RELAYPOOLD, "-c", d.config], capture_output=True, text=True, timeout=20)
    assert r.returncode == 1 and d.cache in r.stderr


def can_unshare_mounts():
    import shutil
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not can_unshare_mounts(), reason="needs root and unshare --mount for a read-only mount")
def test_unwritable_cache_stops_the_daemon(daemon_factory, workdir):
    """The cache's directory is mounted read-only (in a private mount namespace): even root
    cannot write there, and the daemon must say so instead of starting."""
    d = daemon_factory()
    cachedir = os.path.join(workdir, "ro")
    os.mkdir(cachedir)
    d.cache = os.path.join(cachedir, "cache.db")
    d.write_config()
    d.start()
    assert d.stop() == 0
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", cachedir,
                        RELAYPOOLD, "-c", d.config], capture_output=True, text=True, timeout=20)
    assert r.returncode == 1, r.stderr
    assert d.cache in r.stderr and "not writable" in r.stderr, r.stderr


def test_superseded_replaceable_row_expires_at_restart(relay_factory, daemon_factory):
    """The outbox keeps one copy of an event's text, in the cache. When a newer version of a
    replaceable event replaces it there, the older version's pending row has nothing left to
    deliver: at the next start it expires as superseded, and the newer one is delivered."""
    port = free_port()
    rel = relay_factory("later")
    d = start_daemon(daemon_factory, {"later": f"ws://127.0.0.1:{port}"})
    older = gen_events(1, seed="superseded", kind=0, since=1000)
    newer = gen_events(1, seed="superseded", kind=0, since=2000)
    for e in (older, newer):
        assert ctl("publish", "--no-wait", "-", input=e, socket_path=d.socket).returncode == 0
    assert d.stop() == 0
    rel.start(port=port)
    d.start()
    wait_for(lambda: rel.ids() == set(ids_of(newer)), 30, what="the newer version delivered")
    rows = json.loads(ctl("--json", "outbox", socket_path=d.socket).stdout)["result"]["rows"]
    by_id = {x["event_id"]: x for x in rows}
    assert by_id[ids_of(older)[0]]["state"] == "expired"
    assert "superseded" in by_id[ids_of(older)[0]]["message"]
    wait_for(lambda: json.loads(ctl("--json", "outbox", socket_path=d.socket).stdout)["result"]["counts"]["accepted"]
             == 1, 10, what="the newer row accepted")
    assert d.stop() == 0
