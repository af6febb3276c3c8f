"""NIP-11 limits as admission control, against the fault relay advertising them: an event
over max_message_length (or breaking created_at_upper_limit, max_content_length,
max_event_tags, min_pow_difficulty) is refused at once with the limit named and never reaches
the relay; max_subscriptions bounds the REQs one session holds; max_limit shapes sync pages;
max_filters refuses a subscription; [relay] limits override the document; a missing or
broken document means no limits, and says why in relays --info."""

import json
import os
import threading
import time

from conftest import ctl, gen_events, wait_for

FAST_POOL = {"backoff_base": "100ms", "backoff_max": "500ms", "connect_timeout": "2s", "publish_timeout": "5s"}


def start(daemon_factory, relays, pool=None):
    d = daemon_factory()
    d.write_config(relays=relays, pool={**FAST_POOL, **(pool or {})})
    d.start()
    return d


def info(d, name):
    return d.request({"id": "i", "op": "relays", "info": name})["result"]


def wait_info(d, name):
    wait_for(lambda: info(d, name)["fetched_at"] is not None, 20, what=f"relay {name}'s NIP-11 fetch")
    return info(d, name)


def write(workdir, name, text):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_limits_refuse_events_before_anything_is_sent(fault_factory, daemon_factory, workdir):
    rel = fault_factory("--nip11", json.dumps({"max_message_length": 2000, "created_at_upper_limit": 60,
                                               "max_event_tags": 3}))
    ok = fault_factory(name="plain")
    d = start(daemon_factory, {"small": rel.url, "plain": ok.url})
    doc = wait_info(d, "small")
    assert doc["limits"]["max_message_length"] == 2000 and doc["document"]["name"] == "relaypool-fault-relay"
    big = gen_events(1, seed="nip11-big", content_size=3000)
    small = gen_events(1, seed="nip11-small")
    r = ctl("--json", "publish", write(workdir, "big", big), socket_path=d.socket, timeout=60)
    assert r.returncode == 1, r.stdout
    res = {x["relay"]: x for x in json.loads(r.stdout)["error"]["relays"]}
    # Quorum "all" cannot be met once a target is refused: the answer comes at once, and the
    # outbox goes on delivering to the other relay.
    assert res["small"]["status"] == "refused" and res["plain"]["status"] in ("pending", "accepted")
    wait_for(lambda: json.loads(big)["id"] in ok.stats()["event_ids"], 20, what="delivery to the other relay")
    assert res["small"]["message"].startswith("max_message_length: the message is ")
    assert "at most 2000" in res["small"]["message"]
    assert json.loads(big)["id"] not in rel.stats()["event_ids"]
    # The human output names it too; a small event goes to both.
    r = ctl("publish", "--relay", "small", write(workdir, "big", big), socket_path=d.socket, timeout=60)
    assert r.returncode == 1 and "max_message_length" in r.stdout + r.stderr
    r = ctl("publish", write(workdir, "small", small), socket_path=d.socket, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    # created_at too far ahead, too many tags.
    future = gen_events(1, seed="nip11-future", since=int(time.time()) + 3600)
    r = ctl("--json", "publish", "--relay", "small", write(workdir, "f", future), socket_path=d.socket)
    assert "created_at_upper_limit" in r.stdout and r.returncode == 1
    tags = gen_events(1, seed="nip11-tags", tags=["t=a", "t=b", "t=c", "t=d"])
    r = ctl("--json", "publish", "--relay", "small", write(workdir, "t", tags), socket_path=d.socket)
    assert "max_event_tags: the event has 4 tags, the relay takes at most 3" in r.stdout
    # --no-wait lists it as not queued.
    r = ctl("--json", "publish", "--no-wait", write(workdir, "big", big), socket_path=d.socket)
    reply = json.loads(r.stdout)["result"]
    assert reply["queued"] == ["plain"] and reply["not_queued"][0]["relay"] == "small"
    assert d.stop() == 0


def test_config_limits_override_the_document(fault_factory, daemon_factory, workdir):
    rel = fault_factory("--nip11", json.dumps({"max_content_length": 10000}))
    d = start(daemon_factory, {"r": {"url": rel.url, "limits": '{"max_content_length": 5, "min_pow_difficulty": 8}'}})
    doc = wait_info(d, "r")
    assert doc["limits"]["max_content_length"] == 5 and doc["limits"]["min_pow_difficulty"] == 8
    ev = gen_events(1, seed="nip11-content", content_size=20)
    r = ctl("--json", "publish", write(workdir, "c", ev), socket_path=d.socket)
    msg = json.loads(r.stdout)["error"]["relays"][0]["message"]
    assert msg.startswith("max_content_length:") or msg.startswith("min_pow_difficulty:"), msg
    r = ctl("relays", "--info", "r", socket_path=d.socket)
    assert r.returncode == 0 and "limits in force" in r.stdout and "max_content_length" in r.stdout
    assert d.stop() == 0


def test_max_subscriptions_bounds_open_reqs(fault_factory, daemon_factory, workdir):
    rel = fault_factory("--nip11", json.dumps({"max_subscriptions": 2}), "--max-subs", "2", "--req-delay", "300")
    events = gen_events(30, seed="nip11-subs", tags=["t=subs"], since=int(time.time()) - 100)
    d = start(daemon_factory, {"r": rel.url}, pool={"sessions": 1})
    wait_info(d, "r")
    r = ctl("publish", write(workdir, "e", events), socket_path=d.socket, timeout=60)
    assert r.returncode == 0, r.stderr
    # Five syncs at once (different filters): never more than 2 REQs open on the connection.
    results = []

    def sync(k):
        results.append(ctl("sync", "--relay", "r", "--filter", json.dumps({"#t": ["subs"], "kinds": [1, 1000 + k]}),
                           socket_path=d.socket, timeout=120).returncode)
    threads = [threading.Thread(target=sync, args=(k,)) for k in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [0] * 5
    assert rel.stats()["max_subs_seen"] <= 2
    # Live REQs leave one of the two for sync: a second distinct filter set is refused.
    c = d.conn()
    c.send({"id": "a", "op": "subscribe", "filters": {"kinds": [1]}})
    wait_for(lambda: d.request({"id": "l", "op": "subscriptions"})["result"]["feeds"], 20, what="a REQ")
    rep = d.request({"id": "b", "op": "subscribe", "filters": {"kinds": [2]}})
    assert rep["error"]["code"] == "too_many_subscriptions", rep
    c.close()
    assert d.stop() == 0


def test_max_limit_shapes_sync_pages_and_max_filters_refuses(fault_factory, daemon_factory, workdir):
    rel = fault_factory("--nip11", json.dumps({"max_limit": 7, "max_filters": 2}), "--req-limit", "7")
    events = gen_events(40, seed="nip11-pages", tags=["t=pages"], since=int(time.time()) - 100)
    d = start(daemon_factory, {"r": rel.url})
    wait_info(d, "r")
    r = ctl("publish", write(workdir, "e", events), socket_path=d.socket, timeout=60)
    assert r.returncode == 0
    r = ctl("--json", "sync", "--relay", "r", "--filter", '{"#t":["pages"]}', socket_path=d.socket, timeout=120)
    assert r.returncode == 0, r.stdout
    res = json.loads(r.stdout.splitlines()[-1])["result"]["relays"][0]
    assert res["received"] >= 40 and res["pages"] >= 6, res
    q = ctl("query", '{"#t":["pages"]}', socket_path=d.socket)
    assert len(q.stdout.splitlines()) == 40
    rep = d.request({"id": 1, "op": "subscribe", "filters": [{"kinds": [1]}, {"kinds": [2]}, {"kinds": [3]}]})
    assert rep["error"]["code"] == "invalid_filter" and "max_filters" in rep["error"]["message"]
    assert d.stop() == 0


def test_a_missing_or_broken_document_means_no_limits(fault_factory, daemon_factory, workdir):
    broken = fault_factory("--nip11-broken", name="broken")
    status = fault_factory("--nip11-status", "404", name="status")
    d = start(daemon_factory, {"broken": broken.url, "status": status.url, "nowhere": "ws://127.0.0.1:9/"})
    b = wait_info(d, "broken")
    assert b["document"] is None and "not a JSON object" in b["error"] and b["limits"] == {}
    s = wait_info(d, "status")
    assert s["error"].startswith("HTTP 404")
    n = wait_info(d, "nowhere")
    assert "no HTTP answer" in n["error"]
    big = gen_events(1, seed="nip11-nolimit", content_size=5000)
    r = ctl("publish", "--relay", "broken", "--relay", "status", write(workdir, "b", big), socket_path=d.socket)
    assert r.returncode == 0, r.stdout + r.stderr
    r = ctl("relays", "--info", "broken", socket_path=d.socket)
    assert "no document" in r.stdout
    assert d.stop() == 0
