"""NIP-42 against a relay that requires AUTH for EVENT and REQ (the fault relay's --auth
mode, which checks the 22242 event's signature, challenge and relay tag): publishing, sync
and live subscriptions succeed with the daemon's key; without a key, or with auth = no, they
fail with a clear auth-required message; a challenge that comes late, and a relay that
refuses our AUTH, are handled as the relay answers."""

import json
import os
import time

from conftest import ctl, gen_events, wait_for

SECRET_HEX = "5c0c523f52a5b6fad39ed2403092df8cebc36318b39383bca6c00808626fab3a"
FAST_POOL = {"backoff_base": "100ms", "backoff_max": "500ms", "connect_timeout": "2s", "publish_timeout": "5s"}


def write_key(workdir):
    path = os.path.join(workdir, "key")
    with open(path, "w") as f:
        f.write(SECRET_HEX)
    os.chmod(path, 0o600)
    return path


def start(daemon_factory, workdir, relays, key=True, pool=None):
    d = daemon_factory()
    d.write_config(relays=relays, pool={**FAST_POOL, **(pool or {})},
                   daemon={"key": write_key(workdir)} if key else None)
    d.start()
    for name in relays:
        def ready(name=name):
            rel = {x["name"]: x for x in d.request({"id": "r", "op": "relays"})["result"]["relays"]}[name]
            return rel["sessions_ready"] == rel["sessions_configured"]
        wait_for(ready, 20, what=f"relay {name} ready")
    return d


def events_file(workdir, n, seed, tag):
    path = os.path.join(workdir, f"{seed}.jsonl")
    with open(path, "w") as f:
        f.write(gen_events(n, seed=seed, tags=[f"t={tag}"], since=int(time.time()) - n))
    return path


def pubkey_of_daemon(d):
    r = d.request({"id": 1, "op": "sign", "event": {"kind": 1, "content": "x"}})
    return r["result"]["event"]["pubkey"]


def test_publish_sync_and_subscribe_through_an_auth_relay(fault_factory, daemon_factory, workdir):
    rel = fault_factory("--auth", "--verify")
    d = start(daemon_factory, workdir, {"a": rel.url})
    path = events_file(workdir, 500, "auth-500", "auth")
    r = ctl("publish", "--relay", "a", path, socket_path=d.socket, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    st = rel.stats()
    assert len(set(st["event_ids"])) == 500 and st["events_stored"] == 500
    assert st["auth_accepted"] >= 1 and st["auth_refused"] == 0
    assert set(st["authed_pubkeys"]) == {pubkey_of_daemon(d)}
    sessions = {x["name"]: x for x in d.request({"id": "r", "op": "relays"})["result"]["relays"]}["a"]["sessions"]
    assert all(s["auth"] == "ok" for s in sessions), sessions
    assert d.request({"id": "s", "op": "status"})["result"]["pool"]["sessions_authenticated"] == len(sessions)
    assert "auth ok" in ctl("relays", socket_path=d.socket).stdout
    assert "authenticated, NIP-42" in ctl("status", socket_path=d.socket).stdout
    # A sync and a subscription through it.
    r = ctl("--json", "sync", "--relay", "a", "--filter", '{"#t":["auth"]}', socket_path=d.socket, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    r = ctl("subscribe", '{"#t":["auth"]}', "--until-eose", "--no-cache", socket_path=d.socket, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len({json.loads(x)["id"] for x in r.stdout.splitlines()}) == 500
    assert d.stop() == 0


def test_a_late_challenge_is_answered_and_the_refused_work_retried(fault_factory, daemon_factory, workdir):
    rel = fault_factory("--auth-late")
    d = start(daemon_factory, workdir, {"a": rel.url}, pool={"sessions": 1})
    path = events_file(workdir, 20, "auth-late", "late")
    r = ctl("publish", "--relay", "a", path, socket_path=d.socket, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert rel.stats()["events_stored"] == 20
    r = ctl("subscribe", '{"#t":["late"]}', "--until-eose", "--no-cache", socket_path=d.socket, timeout=120)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 20, r.stderr
    assert d.stop() == 0


def test_without_a_key_the_failure_says_auth_is_needed(fault_factory, daemon_factory, workdir):
    rel = fault_factory("--auth")
    d = start(daemon_factory, workdir, {"a": rel.url}, key=False)
    path = events_file(workdir, 3, "auth-nokey", "nokey")
    r = ctl("--json", "publish", "--relay", "a", path, socket_path=d.socket, timeout=60)
    assert r.returncode == 1
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(lines) == 3
    for m in lines:
        msg = m["error"]["relays"][0]["message"]
        assert msg.startswith("auth-required:") and "[daemon] key is not set" in msg, m
    sessions = {x["name"]: x for x in d.request({"id": "r", "op": "relays"})["result"]["relays"]}["a"]["sessions"]
    assert all(s["auth"] == "unanswered" for s in sessions)
    r = ctl("--json", "subscribe", "{}", "--relay", "a", socket_path=d.socket, timeout=60)
    assert r.returncode == 1
    closed = [json.loads(x)["item"]["closed"] for x in r.stdout.splitlines() if '"closed"' in x]
    assert closed and "[daemon] key is not set" in closed[0]["message"]
    r = ctl("sync", "--relay", "a", "--filter", "{}", socket_path=d.socket, timeout=60)
    assert r.returncode == 1 and "auth-required" in r.stdout + r.stderr
    assert d.stop() == 0


def test_auth_no_and_auth_yes_settings(fault_factory, daemon_factory, workdir):
    rel = fault_factory("--auth")
    d = start(daemon_factory, workdir, {"a": {"url": rel.url, "auth": "no"}})
    path = events_file(workdir, 1, "auth-no", "no")
    r = ctl("--json", "publish", "--relay", "a", path, socket_path=d.socket, timeout=60)
    assert r.returncode == 1 and "auth = no" in r.stdout
    assert rel.stats()["auth_accepted"] == 0
    assert d.stop() == 0
    # auth = yes without a key is a configuration error, with file:line.
    bad = daemon_factory("bad")
    bad.write_config(relays={"a": {"url": rel.url, "auth": "yes"}})
    r = ctl_check(bad)
    assert r.returncode != 0 and "auth = yes needs [daemon] key" in r.stderr and ":" in r.stderr


def ctl_check(d):
    import subprocess
    from conftest import RELAYPOOLD
    return subprocess.run([RELAYPOOLD, "-c", d.config, "--check-config"], capture_output=True, text=True, timeout=30)


def test_a_refused_auth_is_reported_with_the_relays_message(fault_factory, daemon_factory, workdir):
    rel = fault_factory("--auth", "--auth-url", "wss://somewhere.else")
    d = start(daemon_factory, workdir, {"a": rel.url}, pool={"sessions": 1})
    path = events_file(workdir, 2, "auth-wrong", "wrong")
    r = ctl("--json", "publish", "--relay", "a", path, socket_path=d.socket, timeout=60)
    assert r.returncode == 1
    msg = json.loads(r.stdout.splitlines()[0])["error"]["relays"][0]["message"]
    assert "the relay refused our NIP-42 AUTH: restricted: the relay tag must name wss://somewhere.else" in msg, msg
    s = {x["name"]: x for x in d.request({"id": "r", "op": "relays"})["result"]["relays"]}["a"]["sessions"][0]
    assert s["auth"] == "failed" and "relay tag" in s["auth_error"]
    assert d.stop() == 0


def test_max_rate_paces_publishing(fault_factory, daemon_factory, workdir):
    rel = fault_factory()
    d = start(daemon_factory, workdir, {"a": {"url": rel.url, "max_rate": "50"}}, key=False,
              pool={"sessions": 2, "inflight": 32})
    path = events_file(workdir, 500, "rate-500", "rate")
    r = ctl("publish", "--relay", "a", path, socket_path=d.socket, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    times = sorted(rel.stats()["event_times"])
    assert len(times) == 500
    # The bucket holds 1 token and refills 50 a second: 500 events need >= 499 / 50 s.
    span = (times[-1] - times[0]) / 1000
    assert span >= 499 / 50 * 0.95, span
    # No second saw more than the rate (plus what network batching may bunch together).
    j = 0
    for i in range(len(times)):
        while times[i] - times[j] >= 1000:
            j += 1
        assert i - j + 1 <= 60, f"{i - j + 1} events within one second"
    reasons = d.request({"id": "s", "op": "stats"})["result"]["contention"]
    assert any(x["reason"] == "max_rate" for x in reasons), reasons
    rel_json = {x["name"]: x for x in d.request({"id": "r", "op": "relays"})["result"]["relays"]}["a"]
    assert rel_json["max_rate"] == 50 and rel_json["counters"]["rate_waits"] > 0
    assert d.stop() == 0
