"""Daemon life cycle: refusing a live socket, replacing a stale one, SIGHUP and reload-op
reloads (good and bad), SIGTERM clean shutdown."""

import json
import os
import signal
import socket
import subprocess

from conftest import RELAYPOOLD, ctl, wait_for


def test_refuses_a_socket_served_by_a_live_daemon(daemon, daemon_factory):
    second = daemon_factory("second")
    second.socket = daemon.socket
    second.write_config()
    r = subprocess.run([RELAYPOOLD, "-c", second.config], capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert f"another relaypoold is already serving {daemon.socket}" in r.stderr
    # The first daemon is untouched and still serves its socket.
    assert daemon.request({"id": 1, "op": "status"})["ok"]


def test_replaces_a_stale_socket(daemon_factory):
    d = daemon_factory()
    d.write_config()
    s = socket.socket(socket.AF_UNIX)
    s.bind(d.socket)
    s.close()  # bound, never listening: a stale file
    d.start()
    assert "removing stale socket" in d.logtext()
    assert d.request({"id": 1, "op": "hello"})["ok"]
    assert d.stop() == 0


def test_refuses_to_replace_a_regular_file(daemon_factory):
    d = daemon_factory()
    d.write_config()
    with open(d.socket, "w") as f:
        f.write("precious")
    r = subprocess.run([RELAYPOOLD, "-c", d.config], capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert "exists and is not a socket" in r.stderr
    assert open(d.socket).read() == "precious"


def test_sigterm_clean_shutdown(daemon_factory):
    d = daemon_factory()
    d.write_config()
    d.start()
    c = d.conn()
    assert c.request({"id": 1, "op": "hello"})["ok"]
    assert d.stop(signal.SIGTERM) == 0
    assert not os.path.exists(d.socket)
    assert c.recv() is None  # connected clients are closed
    assert "shutting down" in d.logtext()


def test_sigint_clean_shutdown(daemon_factory):
    d = daemon_factory()
    d.write_config()
    d.start()
    assert d.stop(signal.SIGINT) == 0
    assert not os.path.exists(d.socket)


def status(d):
    return d.request({"id": "s", "op": "status"})["result"]


def test_sighup_good_reload(daemon):
    daemon.write_config(relays={"a": "ws://127.0.0.1:1", "b": "ws://127.0.0.1:2"},
                        groups={"g": {"relays": "a b", "filter": {"kinds": [1]}}})
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: status(daemon)["counts"]["reloads"] == 1, what="the reload")
    s = status(daemon)
    assert [r["name"] for r in s["relays"]] == ["a", "b"]
    assert s["groups"][0]["filter"] == {"kinds": [1]}
    assert '"added":["a","b"]' in daemon.logtext()


def test_sighup_bad_reload_keeps_old_config(daemon):
    daemon.write_config(relays={"a": "ws://127.0.0.1:1"})
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: status(daemon)["counts"]["reloads"] == 1, what="the first reload")
    with open(daemon.config, "a") as f:
        f.write("[relay b]\nurl = gopher://x\n")
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: status(daemon)["counts"]["reload_failures"] == 1, what="the failed reload")
    s = status(daemon)
    assert [r["name"] for r in s["relays"]] == ["a"]
    lines = len(open(daemon.config).read().splitlines())
    assert f"reload failed, keeping the running configuration: {daemon.config}:{lines}: url:" in daemon.logtext()


def test_reload_op_reports_the_diff(daemon):
    daemon.write_config(relays={"a": "ws://127.0.0.1:1", "b": "ws://127.0.0.1:2"})
    r = ctl("--json", "reload", socket_path=daemon.socket)
    assert r.returncode == 0, r.stderr
    ch = json.loads(r.stdout)["result"]["changes"]
    assert ch["relays"]["added"] == ["a", "b"]
    daemon.write_config(relays={"b": {"url": "ws://127.0.0.1:3", "sessions": 5}, "c": "ws://127.0.0.1:4"},
                        daemon={"log_level": "info", "socket": "/tmp/elsewhere.sock"})
    r = ctl("reload", socket_path=daemon.socket)
    assert r.returncode == 0, r.stderr
    assert "relays added: c" in r.stdout
    assert "relays removed: a" in r.stdout
    assert "relays changed: b" in r.stdout
    assert "need a restart: socket" in r.stdout
    # The socket path needs a restart: the daemon keeps serving the old one.
    assert status(daemon)["log_level"] == "info"
    assert os.path.exists(daemon.socket)
