"""Live subscriptions end to end against real relays: events written straight to a relay by
another client reach subscribers once each; identical filters share one relay REQ (counted
in the relay's own log) that is closed when the last subscriber leaves; a relay restart
loses nothing and repeats nothing; --until-eose replays the cache then ends; a subscriber
that never reads loses events (and is told) while others get every one and the daemon's
memory stays bounded; bad input gets documented errors."""

import json
import os
import signal
import socket
import subprocess
import threading
import time

from conftest import NODE, RELAY_DIR, RELAYPOOLCTL, TIMEOUT_SCALE, Conn, ctl, gen_events, wait_for

FAST_POOL = {"backoff_base": "100ms", "backoff_max": "500ms", "connect_timeout": "2s", "publish_timeout": "5s"}


def start_daemon(factory, relays, pool=None, groups=None, daemon=None, name="d"):
    d = factory(name)
    d.write_config(relays=relays, pool={**FAST_POOL, **(pool or {})}, groups=groups, daemon=daemon)
    d.start()
    for n in relays:
        wait_for(lambda: relay_ready(d, n), 20, what=f"relay {n} ready")
    return d


def relay_ready(d, name):
    rel = {x["name"]: x for x in d.request({"id": "r", "op": "relays"})["result"]["relays"]}[name]
    return rel["sessions_ready"] == rel["sessions_configured"]


def write_events(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def pub_to_relay(url, path):
    r = subprocess.run([NODE, os.path.join(RELAY_DIR, "tools.js"), "pub", url, path], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr


class Sub:
    """A subscribe request on its own connection; a thread collects its lines."""

    def __init__(self, d, req, read=True):
        self.conn = Conn(d.socket, timeout=60)
        self.lines = []
        self.done = threading.Event()
        self.req = {"id": "sub", "op": "subscribe", **req}
        self.conn.send(self.req)
        if read:
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()

    def _read(self):
        try:
            while True:
                msg = self.conn.recv()
                if msg is None:
                    break
                self.lines.append(msg)
                if "item" not in msg and msg.get("id") == "sub":
                    break
        except OSError:
            pass
        self.done.set()

    def items(self, key):
        return [m["item"][key] for m in list(self.lines) if "item" in m and key in m["item"]]

    def event_ids(self):
        return [e["id"] for e in self.items("event")]

    def final(self):
        for m in self.lines:
            if "item" not in m and m.get("id") == "sub":
                return m
        return None

    def close(self):
        self.conn.close()


def req_lines(relay):
    """REQ and CLOSE messages the relay received (from its --verbose log)."""
    text = open(relay.logpath, errors="replace").read()
    reqs = [ln for ln in text.splitlines() if '<- ["REQ"' in ln]
    closes = [ln for ln in text.splitlines() if '<- ["CLOSE"' in ln]
    return reqs, closes


def test_events_written_to_relays_reach_a_subscriber_once_each(relay_factory, daemon_factory):
    a, b = relay_factory("a").start(), relay_factory("b").start()
    d = start_daemon(daemon_factory, {"a": a.url, "b": b.url})
    events = gen_events(60, seed="live-basic", kind=1, tags=["t=live"], since=int(time.time()) - 100)
    lines = events.splitlines()
    # History: 20 on both relays, 10 only on a.
    pub_to_relay(a.url, write_events(os.path.join(d.dir, "h1"), "\n".join(lines[:30]) + "\n"))
    pub_to_relay(b.url, write_events(os.path.join(d.dir, "h2"), "\n".join(lines[:20]) + "\n"))
    s = Sub(d, {"filters": {"kinds": [1], "#t": ["live"]}})
    wait_for(lambda: s.items("eose"), 30, what="the eose item")
    eose = s.items("eose")[0]
    assert sorted(x["state"] for x in eose["relays"]) == ["eose", "eose"], eose
    assert sorted(s.event_ids()) == sorted(json.loads(x)["id"] for x in lines[:30])
    # Live: 20 more written straight to both relays, 10 to b only.
    pub_to_relay(a.url, write_events(os.path.join(d.dir, "l1"), "\n".join(lines[30:50]) + "\n"))
    pub_to_relay(b.url, write_events(os.path.join(d.dir, "l2"), "\n".join(lines[30:60]) + "\n"))
    want = sorted(json.loads(x)["id"] for x in lines)
    wait_for(lambda: len(s.event_ids()) >= 60, 30, what="every live event")
    time.sleep(0.2 * TIMEOUT_SCALE)  # a duplicate would come right behind its twin
    got = s.event_ids()
    assert sorted(got) == want, "every event exactly once"
    assert all(m["item"].get("relay") in ("a", "b") for m in s.lines if "event" in m.get("item", {}))
    # The order: the eose item comes after the history and before the live events.
    kinds = ["eose" if "eose" in m.get("item", {}) else "event" for m in s.lines if "item" in m]
    assert kinds.index("eose") == 30
    # Each event is in the cache now.
    q = ctl("query", '{"kinds":[1],"#t":["live"]}', socket_path=d.socket)
    assert q.returncode == 0 and len(q.stdout.splitlines()) == 60
    s.conn.send({"id": "u", "op": "unsubscribe", "subscription": "sub"})
    wait_for(s.done.is_set, 10, what="the subscription's end")
    fin = s.final()
    assert fin["ok"] and fin["end"] and fin["result"]["ended"] == "unsubscribed"
    assert fin["result"]["delivered"] == 60
    s.close()
    assert d.stop() == 0
