"""Truthful concurrency: the daemon's own figures checked by arithmetic on controlled runs.
A fixture relay answers every EVENT after a fixed delay, so with c sessions, window W and a
full queue, exactly c*W jobs are in flight: the reported effective parallelism (the time
integral of in-flight over wall time) must match within 10%. Then the contention report must
name the refused sessions, the rate-limit cooldown, a window of 1, a slow relay holding a
quorum; and metrics and trace must expose the same."""

import json
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import RELAYPOOLCTL, RELAYPOOLD, ctl, free_port, gen_events, wait_for

POOL = {"backoff_base": "100ms", "backoff_max": "1s", "connect_timeout": "2s", "publish_timeout": "30s",
        "ping_interval": "1h"}


@pytest.fixture(scope="module")
def events_600():
    return gen_events(600, seed="stats-600")


def start(factory, relays, pool=None, daemon=None, name="d"):
    d = factory(name)
    d.write_config(relays=relays, pool={**POOL, **(pool or {})}, daemon=daemon)
    d.start()
    return d


def stats(d):
    r = d.request({"id": "s", "op": "stats"})
    assert r["ok"], r
    return r["result"]


def wait_ready(d, n):
    wait_for(lambda: sum(x["sessions_ready"] for x in stats(d)["relays"]) >= n, 15, what="sessions ready")


def publish_background(d, events, *args):
    path = f"{d.dir}/events.jsonl"
    with open(path, "w") as f:
        f.write(events)
    return subprocess.Popen([RELAYPOOLCTL, "-s", d.socket, "publish", *args, path], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def measure(d, proc, relay="f", span=2.0):
    """Effective parallelism over span seconds of the run, once every ready session carries
    its window, from the daemon's monotonic in-flight integral. The span is the measuring
    interval itself, not a wait for something to happen."""
    def full():
        r = [x for x in stats(d)["relays"] if x["name"] == relay][0]
        return r["inflight"] > 0 and r["inflight"] >= r["sessions_ready"] * r["window"]
    wait_for(full, 30, what="every ready session to carry its window")
    a = stats(d)
    time.sleep(span)
    b = stats(d)
    assert proc.poll() is None, "the run ended before the measurement did; make it longer"
    ra = [x for x in a["relays"] if x["name"] == relay][0]
    rb = [x for x in b["relays"] if x["name"] == relay][0]
    dt = b["monotonic_s"] - a["monotonic_s"]
    return (rb["inflight_seconds"] - ra["inflight_seconds"]) / dt, (b["pool"]["inflight_seconds"]
                                                                     - a["pool"]["inflight_seconds"]) / dt, b


@pytest.mark.parametrize("c,w", [(1, 4), (2, 4), (4, 2), (3, 5)])
def test_effective_parallelism_is_c_times_w(fault_factory, daemon_factory, events_600, c, w):
    f = fault_factory("--ok-delay", "200")
    d = start(daemon_factory, {"f": f.url}, pool={"sessions": c, "inflight": w})
    wait_ready(d, c)
    proc = publish_background(d, events_600)
    relay_par, pool_par, st = measure(d, proc)
    assert abs(relay_par - c * w) <= 0.1 * c * w, (relay_par, c * w)
    assert abs(pool_par - c * w) <= 0.1 * c * w, (pool_par, c * w)
    rel = st["relays"][0]
    assert rel["configured"] == c * w
    # Per session: each carries its window while busy.
    for s in rel["sessions_detail"]:
        assert s["busy_ratio"] > 0.5 and s["oks"] > 0
    # The configured concurrency is the limit, and the report says so.
    reasons = {x["reason"] for x in st["contention"]}
    assert "configured_limit" in reasons, st["contention"]
    proc.kill()
    proc.wait()
    assert d.stop() == 0


def test_relay_accepting_one_connection(fault_factory, daemon_factory, events_600):
    f = fault_factory("--ok-delay", "100", "--max-connections", "1")
    d = start(daemon_factory, {"f": f.url}, pool={"sessions": 4, "inflight": 1})
    wait_ready(d, 1)
    wait_for(lambda: "upgrade refused" in d.logtext(), 10, what="refused sessions")
    proc = publish_background(d, events_600)
    relay_par, _, st = measure(d, proc)
    assert 0.85 <= relay_par <= 1.1, relay_par  # one session, window 1
    wait_for(lambda: any(x["reason"] == "sessions_down" for x in stats(d)["contention"]), 12,
             what="the report to name the refused sessions")
    down = [x for x in stats(d)["contention"] if x["reason"] == "sessions_down"][0]
    assert "only 1 of 4 sessions are up" in down["message"] and "503" in down["message"], down
    proc.kill()
    proc.wait()
    assert d.stop() == 0


def test_window_one_names_the_round_trip(fault_factory, daemon_factory, events_600):
    f = fault_factory("--ok-delay", "100")
    d = start(daemon_factory, {"f": f.url}, pool={"sessions": 2, "inflight": 1})
    wait_ready(d, 2)
    proc = publish_background(d, events_600)
    relay_par, _, st = measure(d, proc)
    assert abs(relay_par - 2) <= 0.2
    reasons = {x["reason"]: x["message"] for x in st["contention"]}
    assert "window_one" in reasons and "raise inflight" in reasons["window_one"], st["contention"]
    proc.kill()
    proc.wait()
    assert d.stop() == 0


def test_rate_limited_relay_names_the_cooldown(fault_factory, daemon_factory, events_600):
    f = fault_factory("--ok", "rate-limited")
    d = start(daemon_factory, {"f": f.url},
              pool={"sessions": 2, "inflight": 8, "max_attempts": 100, "backoff_base": "500ms", "backoff_max": "2s"})
    wait_ready(d, 2)
    proc = publish_background(d, events_600, "--no-wait")
    wait_for(lambda: any(x["reason"] == "rate_limited" for x in stats(d)["contention"]), 15,
             what="the report to name the cooldown")
    st = stats(d)
    rl = [x for x in st["contention"] if x["reason"] == "rate_limited"][0]
    assert "rate-limited:" in rl["message"] and "cooldown" in rl["message"]
    rel = st["relays"][0]
    assert rel["cooldowns"] >= 1 and rel["rate_limited"] >= 1
    # Every answer is rate-limited: nothing got through while work waited.
    assert rel["accepted"] == 0 and rel["queued"]["now"] > 0
    wait_for(lambda: "contention: relay f:" in d.logtext(), 15, what="the warning log line")
    proc.wait(30)
    assert d.stop() == 0


def test_slow_relay_holding_the_quorum(fault_factory, daemon_factory):
    fast = fault_factory(name="fast")
    slow = fault_factory("--ok-delay", "200", name="slow")
    d = start(daemon_factory, {"fast": fast.url, "slow": slow.url}, pool={"sessions": 1, "inflight": 1})
    wait_ready(d, 2)
    r = ctl("publish", "--quorum", "all", "-", input=gen_events(30, seed="quorum-slow"), socket_path=d.socket,
            timeout=120)
    assert r.returncode == 0
    st = stats(d)
    slow_rel = [x for x in st["relays"] if x["name"] == "slow"][0]
    assert slow_rel["quorum_last"] >= 25
    sq = [x for x in st["contention"] if x["reason"] == "slow_quorum"]
    assert sq and sq[0]["scope"] == "relay slow", st["contention"]
    assert d.stop() == 0


def test_idle_pool_reports_no_contention(relay, daemon_factory):
    d = start(daemon_factory, {"local": relay.url})
    wait_ready(d, 2)
    st = stats(d)
    assert st["contention"] == []
    assert st["pool"]["inflight"] == 0 and st["pool"]["configured"] == 64
    r = ctl("stats", socket_path=d.socket)
    assert r.returncode == 0 and "contention: none" in r.stdout and "effective parallelism" in r.stdout
    assert d.stop() == 0


def test_metrics_text_and_http_listener(fault_factory, daemon_factory):
    f = fault_factory("--ok-delay", "20")
    port = free_port()
    d = start(daemon_factory, {"f": f.url}, daemon={"metrics_listen": f"127.0.0.1:{port}"})
    wait_ready(d, 2)
    assert ctl("publish", "-", input=gen_events(20, seed="metrics"), socket_path=d.socket).returncode == 0
    text = ctl("metrics", socket_path=d.socket).stdout
    over_http = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert over_http.headers["Content-Type"].startswith("application/openmetrics-text")
    body = over_http.read().decode()
    for t in (text, body):
        assert t.endswith("# EOF\n")
        assert 'relaypool_relay_jobs_total{relay="f",result="accepted"} 20' in t
        assert 'relaypool_relay_ok_latency_seconds_bucket{relay="f",le="+Inf"} 20' in t
        assert 'relaypool_session_ready{relay="f",session="0"} 1' in t
        assert "relaypool_configured_parallelism 64" in t
        assert 'relaypool_outbox_rows{state="accepted"} 20' in t
        # Every sample belongs to a declared family; counters end in _total.
        families = {line.split()[2]: line.split()[3] for line in t.splitlines() if line.startswith("# TYPE")}
        for line in t.splitlines():
            if line.startswith("#"):
                continue
            name = line.split("{")[0].split()[0]
            base = next((f for f in families if name == f or name.startswith(f + "_")), None)
            assert base, name
            if families[base] == "counter":
                assert name == base + "_total", name
    # Histogram buckets are cumulative.
    buckets = [int(x.rsplit(" ", 1)[1]) for x in text.splitlines()
               if x.startswith('relaypool_relay_ok_latency_seconds_bucket{relay="f"')]
    assert buckets == sorted(buckets)
    assert d.stop() == 0


def test_metrics_listen_only_on_loopback(daemon_factory):
    d = daemon_factory()
    d.write_config(daemon={"metrics_listen": "0.0.0.0:9464"})
    r = subprocess.run([RELAYPOOLD, "-c", d.config, "--check-config"], capture_output=True, text=True)
    assert r.returncode == 1 and "only loopback addresses are allowed" in r.stderr


def test_trace_streams_the_life_of_a_publish(fault_factory, daemon_factory):
    f = fault_factory("--ok-delay", "50")
    d = start(daemon_factory, {"f": f.url})
    wait_ready(d, 2)
    c = d.conn()
    c.send({"id": "t", "op": "trace", "relay": "f"})
    # The listener is in place once a probe event shows up in the stream.
    probes = gen_events(20, seed="trace-probe").splitlines()
    c.sock.settimeout(1)
    for probe in probes:
        assert ctl("publish", "-", input=probe + "\n", socket_path=d.socket).returncode == 0
        try:
            if c.recv():
                break
        except socket.timeout:
            continue
    else:
        raise AssertionError("the trace stream never showed a probe event")
    c.sock.settimeout(10)
    ev = json.loads(gen_events(1, seed="trace"))
    assert ctl("publish", "-", input=json.dumps(ev) + "\n", socket_path=d.socket).returncode == 0
    seen = []
    while len(seen) < 3:
        item = c.recv()["item"]
        if item.get("event_id") == ev["id"]:
            seen.append(item)
    assert [x["what"] for x in seen] == ["queued", "sent", "ok"]
    assert seen[1]["session"] in (0, 1) and seen[2]["accepted"] is True and seen[2]["latency_ms"] >= 45
    assert d.request({"id": 1, "op": "trace", "relay": "nope"})["error"]["code"] == "unknown_relay"
    c.close()
    assert d.stop() == 0


def test_slow_trace_reader_is_dropped_not_waited_for(fault_factory, daemon_factory):
    f = fault_factory()
    d = start(daemon_factory, {"f": f.url}, daemon={"client_buffer": "64KiB"}, pool={"inflight": 64})
    wait_ready(d, 2)
    s = socket.socket(socket.AF_UNIX)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(d.socket)
    s.sendall(b'{"id":"slow","op":"trace"}\n')  # and never read
    t0 = time.monotonic()
    r = ctl("publish", "-", input=gen_events(3000, seed="slow-trace"), socket_path=d.socket, timeout=120)
    assert r.returncode == 0
    # The publish went on at full speed, and the reader's backlog stayed bounded.
    assert time.monotonic() - t0 < 60
    s.settimeout(5)
    data = b""
    try:
        while len(data) < 4_000_000:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            data += chunk
            if b'"what":"dropped"' in data:
                break
    except socket.timeout:
        pass
    assert len(data) < 2_000_000
    # Once it reads again, the next event tells how many it missed.
    assert ctl("publish", "-", input=gen_events(1, seed="after"), socket_path=d.socket).returncode == 0
    s.settimeout(10)
    while b'"what":"dropped"' not in data:
        chunk = s.recv(1 << 16)
        assert chunk
        data += chunk
    s.close()
    assert d.stop() == 0


def test_stats_watch_and_json(relay, daemon_factory):
    d = start(daemon_factory, {"local": relay.url})
    wait_ready(d, 2)
    r = ctl("--json", "stats", socket_path=d.socket)
    st = json.loads(r.stdout)["result"]
    assert set(st["pool"]["effective_parallelism"]) == {"10s", "60s", "total"}
    p = subprocess.Popen([RELAYPOOLCTL, "-s", d.socket, "stats", "--watch", "0.2"], stdout=subprocess.PIPE, text=True)
    seen, deadline = 0, time.monotonic() + 30
    while seen < 3 and time.monotonic() < deadline:
        line = p.stdout.readline()
        seen += "effective parallelism" in line
    p.terminate()
    p.communicate(timeout=10)
    assert seen >= 3
    assert ctl("stats", "--watch", "0", socket_path=d.socket).returncode == 2
    assert d.stop() == 0
