"""NIP-77 negentropy sync end to end, with independent implementations on both sides: the
daemon's C initiator against the test relay's JavaScript responder (tests/relay/negentropy.js,
written from the spec on nostr-tools' storage and fingerprint code), and nostr-tools' own
initiator (tests/relay/negsync.mjs) against the project's C responder in bench/fast_relay.

Covered: overlapping sets (some only in the cache, some only at the relay, some that reached
the relay late with an old created_at, which the REQ method's cursor misses) end as the
union; 2,000 events in one second (the REQ method's hole) all synced; a relay without NIP-77
syncs by REQ (auto) or fails with the cause (--method negentropy); a NEG-ERR mid-way falls
back to REQ cleanly; an unreachable relay fails at once with its error; bad input."""

import json
import os
import random
import sqlite3
import subprocess
import time

from conftest import NODE, RELAY_DIR, SOURCE_ROOT, TIMEOUT_SCALE, ctl, gen_events, wait_for
from test_cache import FAST_POOL, pub_to_relay, start_daemon, status, wait_ready

FAST_RELAY = os.environ.get("FAST_RELAY", os.path.join(SOURCE_ROOT, "build", "bench", "fast_relay"))


def ids_of(text):
    return [json.loads(line)["id"] for line in text.splitlines() if line.strip()]


def write(tmp_path, name, lines):
    p = tmp_path / name
    p.write_text("".join(line + "\n" for line in lines))
    return str(p)


def sync(d, *args, expect=0):
    r = ctl("--json", "sync", *args, socket_path=d.socket, timeout=300)
    assert r.returncode == expect, r.stdout[-3000:] + r.stderr
    last = json.loads(r.stdout.splitlines()[-1])
    body = last.get("result") or last.get("error")
    return body["relays"][0], last


def cache_ids(d):
    db = sqlite3.connect(d.cache)
    try:
        return {r[0].hex() for r in db.execute("SELECT id FROM events")}
    finally:
        db.close()


def neg_opens(relay):
    """NEG-OPEN messages the test relay received (its --verbose log)."""
    with open(relay.logpath, errors="replace") as f:
        return sum(1 for line in f if "<- [\"NEG-OPEN\"" in line)


def test_overlapping_sets_end_as_the_union(relay_factory, daemon_factory, tmp_path):
    shared = gen_events(300, seed="neg-shared", tags=("t=neg",), since=1700000000).splitlines()
    only_relay = gen_events(200, seed="neg-relay", tags=("t=neg",), since=1700100000).splitlines()
    only_cache = gen_events(100, seed="neg-cache", tags=("t=neg",), since=1700050000).splitlines()
    a = relay_factory("a").start(args=("--verbose",))
    b = relay_factory("b").start()
    pub_to_relay(a.url, write(tmp_path, "a.jsonl", shared + only_relay))
    pub_to_relay(b.url, write(tmp_path, "b.jsonl", shared + only_cache))
    d = start_daemon(daemon_factory, {"a": a.url, "b": b.url})
    wait_ready(d, "a")
    wait_ready(d, "b")
    flt = '{"#t":["neg"]}'
    # The cache gets shared + only_cache from b (by REQ).
    res, _ = sync(d, "--relay", "b", "--filter", flt, "--method", "req")
    assert res["status"] == "ok" and res["method"] == "req" and res["new"] == 400
    # Negentropy against a: only the 200 events the cache lacks move.
    res, _ = sync(d, "--relay", "a", "--filter", flt)
    assert res["status"] == "ok", res
    assert res["method"] == "negentropy" and "fallback" not in res
    neg = res["negentropy"]
    assert neg["have"] == 100 and neg["need"] == 200 and neg["missing"] == 0
    assert res["received"] == 200 and res["new"] == 200 and res["invalid"] == 0
    assert neg["rounds"] >= 1 and neg["bytes"] > 0 and neg["chunks"] == 1
    assert cache_ids(d) == set(ids_of("\n".join(shared + only_relay + only_cache)))
    assert neg_opens(a) == 1
    # Events that reach the relay late, with created_at far behind the cursor: the REQ
    # method does not see them; negentropy does.
    late = gen_events(30, seed="neg-late", tags=("t=neg",), since=1600000000).splitlines()
    pub_to_relay(a.url, write(tmp_path, "late.jsonl", late))
    res, _ = sync(d, "--relay", "a", "--filter", flt, "--method", "req")
    assert res["status"] == "ok" and res["new"] == 0
    res, _ = sync(d, "--relay", "a", "--filter", flt, "--method", "negentropy")
    assert res["status"] == "ok" and res["method"] == "negentropy"
    assert res["negentropy"]["need"] == 30 and res["new"] == 30
    assert set(ids_of("\n".join(late))) <= cache_ids(d)
    # --up: what only the cache has goes to the relay, through the outbox.
    res, _ = sync(d, "--relay", "a", "--filter", flt, "--up")
    assert res["negentropy"]["have"] == 100 and res["negentropy"]["uploaded"] == 100
    everything = set(ids_of("\n".join(shared + only_relay + only_cache + late)))
    wait_for(lambda: a.ids({"#t": ["neg"], "limit": 5000}) == everything, 60 * TIMEOUT_SCALE,
             what="the relay has every event")
    # In step now, both ways: nothing moves but the fingerprints.
    res, _ = sync(d, "--relay", "a", "--filter", flt)
    assert res["negentropy"]["need"] == 0 and res["negentropy"]["have"] == 0
    assert res["received"] == 0 and res["negentropy"]["rounds"] == 1
    # The human table says which method and what moved.
    r = ctl("sync", "--relay", "a", "--filter", flt, socket_path=d.socket, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "negentropy" in r.stdout and "ids only here" in r.stdout
    assert d.stop() == 0


def test_two_thousand_events_in_one_second(relay_factory, daemon_factory, tmp_path):
    same = gen_events(2000, seed="neg-same", tags=("t=same",), since=1700000000, same_time=True)
    a = relay_factory("a").start()
    pub_to_relay(a.url, write(tmp_path, "same.jsonl", same.splitlines()))
    d = start_daemon(daemon_factory, {"a": a.url})
    wait_ready(d, "a")
    flt = '{"#t":["same"]}'
    # REQ pages by created_at: one page of the second, then it moves below it.
    res, _ = sync(d, "--relay", "a", "--filter", flt, "--method", "req")
    assert res["status"] == "ok" and res["new"] < 2000
    before = len(cache_ids(d))
    res, _ = sync(d, "--relay", "a", "--filter", flt, "--method", "negentropy")
    assert res["status"] == "ok" and res["method"] == "negentropy"
    assert res["negentropy"]["need"] == 2000 - before and res["new"] == 2000 - before
    assert cache_ids(d) == set(ids_of(same))
    assert status(d)["cache"]["events"] == 2000
    assert d.stop() == 0


def test_chunks_of_the_cache_cut_at_whole_seconds(relay_factory, daemon_factory, tmp_path):
    spread = gen_events(600, seed="neg-chunk", tags=("t=chunk",), since=1700000000).splitlines()
    second = gen_events(150, seed="neg-chunk-second", tags=("t=chunk",), since=1700000300,
                        same_time=True).splitlines()
    a, b = relay_factory("a").start(), relay_factory("b").start()
    pub_to_relay(a.url, write(tmp_path, "a.jsonl", spread + second))
    pub_to_relay(b.url, write(tmp_path, "b.jsonl", spread[::2] + second[:120]))
    # 100 keys per NEG-OPEN: the cache's 420 keys make several chunks, one of them the
    # whole crowded second (120 keys there: a filter cannot split a second).
    d = start_daemon(daemon_factory, {"a": a.url, "b": b.url}, pool={"sync_chunk": 100})
    wait_ready(d, "a")
    wait_ready(d, "b")
    flt = '{"#t":["chunk"]}'
    res, _ = sync(d, "--relay", "b", "--filter", flt, "--method", "req")
    assert res["new"] == 420
    res, _ = sync(d, "--relay", "a", "--filter", flt, "--method", "negentropy")
    assert res["status"] == "ok", res
    neg = res["negentropy"]
    assert neg["chunks"] >= 5 and neg["need"] == 330 and neg["have"] == 0 and res["new"] == 330
    assert cache_ids(d) == set(ids_of("\n".join(spread + second)))
    assert d.stop() == 0


def test_relay_without_nip77(relay_factory, daemon_factory, tmp_path):
    evs = gen_events(50, seed="neg-none", tags=("t=none",))
    a = relay_factory("a").start(args=("--no-negentropy",))
    pub_to_relay(a.url, write(tmp_path, "e.jsonl", evs.splitlines()))
    d = start_daemon(daemon_factory, {"a": a.url})
    wait_ready(d, "a")
    flt = '{"#t":["none"]}'
    # negentropy only: fails, naming the relay's answer (a NOTICE) - NIP-11 may be in or not yet.
    res, last = sync(d, "--relay", "a", "--filter", flt, "--method", "negentropy", expect=1)
    assert res["status"] == "failed" and "negentropy" in res["error"]
    assert "NOTICE" in res["error"] or "NIP" in res["error"], res["error"]
    assert last["error"]["code"] == "sync_failed"
    assert len(cache_ids(d)) == 0
    # auto: by REQ, saying why.
    res, _ = sync(d, "--relay", "a", "--filter", flt)
    assert res["status"] == "ok" and res["method"] == "req" and res["new"] == 50
    assert "fallback" in res and ("NOTICE" in res["fallback"] or "NIP-77" in res["fallback"])
    # Once the NIP-11 document is in, auto goes straight to REQ.
    wait_for(lambda: d.request({"id": "i", "op": "relays", "info": "a"})["result"]["fetched_at"] is not None,
             20 * TIMEOUT_SCALE, what="NIP-11 fetch")
    res, _ = sync(d, "--relay", "a", "--filter", flt)
    assert res["method"] == "req" and "NIP-11" in res["fallback"]
    assert d.stop() == 0


def test_an_unanswered_probe_is_remembered(fault_factory, daemon_factory):
    # No NIP-11 document, and NEG-OPEN gets a NOTICE: auto probes once, then goes straight to REQ.
    f = fault_factory("--nip11-status", "404")
    d = start_daemon(daemon_factory, {"f": f.url})
    wait_ready(d, "f")
    res, _ = sync(d, "--relay", "f", "--filter", "{}")
    assert res["status"] == "ok" and res["method"] == "req" and "NOTICE" in res["fallback"], res
    res, _ = sync(d, "--relay", "f", "--filter", "{}")
    assert res["method"] == "req" and "within the last hour" in res["fallback"] and "negentropy" not in res
    # --method negentropy still tries (and fails with the cause).
    res, _ = sync(d, "--relay", "f", "--filter", "{}", "--method", "negentropy", expect=1)
    assert "NOTICE" in res["error"]
    assert d.stop() == 0


def test_neg_err_mid_way_falls_back_to_req(relay_factory, daemon_factory, tmp_path):
    evs = gen_events(1200, seed="neg-err", tags=("t=err",))
    # A small frame: several rounds, and the relay fails the first NEG-MSG after NEG-OPEN.
    a = relay_factory("a").start(args=("--neg-err-after", "1", "--neg-frame-limit", "4096"))
    pub_to_relay(a.url, write(tmp_path, "e.jsonl", evs.splitlines()))
    d = start_daemon(daemon_factory, {"a": a.url})
    wait_ready(d, "a")
    # --method negentropy reports it as a failure (what it fetched before stays stored).
    res, _ = sync(d, "--relay", "a", "--filter", '{"#t":["err"]}', "--method", "negentropy", expect=1)
    assert res["status"] == "failed" and "NEG-ERR" in res["error"] and "injected" in res["error"]
    assert len(cache_ids(d)) < 1200
    # auto falls back to REQ, which brings the rest.
    res, _ = sync(d, "--relay", "a", "--filter", '{"#t":["err"]}')
    assert res["status"] == "ok", res
    assert res["method"] == "req" and "NEG-ERR" in res["fallback"] and "injected" in res["fallback"]
    assert res["negentropy"]["rounds"] >= 1 and res["pages"] >= 1
    assert cache_ids(d) == set(ids_of(evs))
    assert d.stop() == 0


def test_unreachable_relay_fails_at_once_with_its_error(daemon_factory):
    d = start_daemon(daemon_factory, {"gone": "ws://127.0.0.1:1"})
    wait_for(lambda: d.request({"id": "r", "op": "relays"})["result"]["relays"][0].get("reachable") is False,
             20 * TIMEOUT_SCALE, what="relay marked unreachable")
    t0 = time.monotonic()
    res, _ = sync(d, "--relay", "gone", "--filter", "{}", expect=1)
    assert "cannot be reached" in res["error"] and "refused" in res["error"].lower(), res["error"]
    assert time.monotonic() - t0 < 10 * TIMEOUT_SCALE
    assert d.stop() == 0


def test_bad_input(relay, daemon_factory):
    d = start_daemon(daemon_factory, {"a": relay.url})
    r = ctl("sync", "--relay", "a", "--filter", "{}", "--method", "fast", socket_path=d.socket)
    assert r.returncode == 2 and "--method" in r.stderr
    e = d.request({"id": 1, "op": "sync", "relay": "a", "filter": {}, "method": "fast"})["error"]
    assert e["code"] == "invalid_field" and "method" in e["message"]
    e = d.request({"id": 2, "op": "sync", "relay": "a", "filter": {}, "method": 7})["error"]
    assert e["code"] == "invalid_field"
    e = d.request({"id": 3, "op": "sync", "relay": "a", "filter": {}, "method": "req", "up": True})["error"]
    assert e["code"] == "invalid_field" and "negentropy" in e["message"]
    assert d.stop() == 0


def start_fast_relay(*args):
    p = subprocess.Popen([FAST_RELAY, "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline().decode()
    assert line.startswith("LISTENING "), line
    return p, int(line.split()[1])


def test_nostr_tools_initiator_against_our_responder(tmp_path):
    relay, port = start_fast_relay("--serve", "3000", "--req-limit", "5000", "--neg-frame-limit", "4096")
    try:
        url = f"ws://127.0.0.1:{port}"
        served = subprocess.run([NODE, os.path.join(RELAY_DIR, "tools.js"), "req", url, '{"limit":5000}'],
                                capture_output=True, text=True, timeout=60 * TIMEOUT_SCALE, check=True)
        events = [json.loads(line) for line in served.stdout.splitlines()]
        assert len(events) == 3000
        rnd = random.Random(77)
        rnd.shuffle(events)
        kept, dropped = events[:2700], events[2700:]
        fake = [[rnd.choice(events)["created_at"] + rnd.choice([-1, 0, 1]), "%064x" % rnd.getrandbits(256)]
                for _ in range(100)]
        items = [[e["created_at"], e["id"]] for e in kept] + fake
        path = tmp_path / "items.json"
        path.write_text(json.dumps(items))
        r = subprocess.run([NODE, os.path.join(RELAY_DIR, "negsync.mjs"), "--url", url, "--filter", '{"kinds":[1]}',
                            "--items", str(path), "--frame-limit", "4096"],
                           capture_output=True, text=True, timeout=120 * TIMEOUT_SCALE)
        assert r.returncode == 0, r.stdout + r.stderr
        out = json.loads(r.stdout)
        assert sorted(out["need"]) == sorted(e["id"] for e in dropped)
        assert sorted(out["have"]) == sorted(f[1] for f in fake)
        assert out["round_trips"] > 1  # the 4 KB frames force several
        # A filter that matches nothing there: everything of ours is "have".
        r = subprocess.run([NODE, os.path.join(RELAY_DIR, "negsync.mjs"), "--url", url, "--filter", '{"kinds":[7]}',
                            "--items", str(path)], capture_output=True, text=True, timeout=120 * TIMEOUT_SCALE)
        assert r.returncode == 0, r.stderr
        assert len(json.loads(r.stdout)["have"]) == len(items) and json.loads(r.stdout)["need"] == []
    finally:
        relay.terminate()
        relay.wait(10)


def test_daemon_against_our_responder(daemon_factory):
    relay, port = start_fast_relay("--serve", "5000")
    try:
        d = start_daemon(daemon_factory, {"f": f"ws://127.0.0.1:{port}"})
        wait_ready(d, "f")
        res, _ = sync(d, "--relay", "f", "--filter", '{"kinds":[1]}', "--method", "negentropy")
        assert res["status"] == "ok" and res["method"] == "negentropy"
        assert res["negentropy"]["need"] == 5000 and res["new"] == 5000
        assert res["negentropy"]["fetches"] >= 10  # 500 ids per REQ
        assert status(d)["cache"]["events"] == 5000
        res, _ = sync(d, "--relay", "f", "--filter", '{"kinds":[1]}')
        assert res["method"] == "negentropy" and res["negentropy"]["need"] == 0 and res["received"] == 0
        assert d.stop() == 0
    finally:
        relay.terminate()
        relay.wait(10)


def test_a_relay_faster_than_verification_is_held_back(daemon_factory):
    """A relay that ignores "limit" and sends everything at once: the sync stops reading from
    the session while 1,000 events wait for verification, so memory stays flat."""
    import pytest
    from conftest import rss_anon_kib
    if os.environ.get("RELAYPOOL_SANITIZED") == "1":
        pytest.skip("ASan's quarantine holds freed memory: RSS says nothing there")
    relay, port = start_fast_relay("--serve", "50000", "--ignore-limit")
    try:
        d = start_daemon(daemon_factory, {"f": f"ws://127.0.0.1:{port}"}, pool={"sessions": 1},
                         daemon={"verify_threads": 1})
        wait_ready(d, "f")
        before = rss_anon_kib(d.proc.pid)
        res, _ = sync(d, "--relay", "f", "--filter", '{"kinds":[1]}', "--method", "req")
        assert res["status"] == "ok" and res["new"] == 50000
        peak = int(next(line.split()[1] for line in open(f"/proc/{d.proc.pid}/status") if line.startswith("VmHWM:")))
        # Measured here: held back, anonymous memory grows ~19 MiB (SQLite's cache, malloc's
        # arenas) and the peak is ~31 MiB, as with a relay that pages; without the hold,
        # +80 MiB and a 93 MiB peak.
        assert rss_anon_kib(d.proc.pid) - before < 40 * 1024
        assert peak < 56 * 1024, peak
        r = d.request({"id": "r", "op": "relays"})["result"]["relays"][0]
        assert sum(s["counters"]["pong_timeouts"] for s in r["sessions"]) == 0
        assert d.stop() == 0
    finally:
        relay.terminate()
        relay.wait(10)


def test_a_known_event_is_not_verified_again_but_a_forged_signature_is_caught(fault_factory, daemon_factory,
                                                                             tmp_path):
    evs = gen_events(20, seed="known").splitlines()
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(evs) + "\n")
    forged = [json.loads(line) for line in evs]
    # Same id (the id does not cover the signature), another valid-looking signature.
    # (the newest: REQ pages repeat their oldest second, and it would be verified twice)
    forged[19]["sig"] = ("%0128x" % (int(forged[19]["sig"], 16) ^ 1))
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(json.dumps(e) for e in forged) + "\n")
    a = fault_factory("--serve", str(good), name="a")
    b = fault_factory("--serve", str(bad), name="b")
    d = start_daemon(daemon_factory, {"a": a.url, "b": b.url})
    wait_ready(d, "a")
    wait_ready(d, "b")
    res, _ = sync(d, "--relay", "a", "--filter", "{}", "--method", "req")
    assert res["new"] == 20 and res["invalid"] == 0
    res, _ = sync(d, "--relay", "b", "--filter", "{}", "--method", "req")
    assert res["invalid"] == 1 and res["new"] == 0
    # Again, below b's cursor now: 19 known to the cache (no verification), the forged one
    # verified again and dropped again.
    res, _ = sync(d, "--relay", "b", "--filter", "{}", "--method", "req", "--since", "0")
    assert res["invalid"] == 1 and res["new"] == 0 and res["duplicates"] == res["received"] - 1, res
    assert f"{res['received'] - 1} known to the cache, not verified again" in d.logtext()
    # The cache keeps the event with its real signature.
    r = ctl("query", json.dumps({"ids": [forged[19]["id"]]}), socket_path=d.socket)
    assert [json.loads(line)["sig"] for line in r.stdout.splitlines()] == [json.loads(evs[19])["sig"]]
    assert d.stop() == 0
