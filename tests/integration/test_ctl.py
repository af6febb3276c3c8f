"""relaypoolctl: exit codes (0 success, 1 daemon failure, 2 usage, 3 unreachable), --help
for every command, human and --json output."""

import json
import os

import pytest

from conftest import ctl

COMMANDS = ["status", "reload", "version"]


def test_exit_0_status(daemon):
    r = ctl("status", socket_path=daemon.socket)
    assert r.returncode == 0, r.stderr
    assert "relaypoold" in r.stdout and "RELAY" in r.stdout


def test_json_prints_the_daemons_reply(daemon):
    r = ctl("--json", "status", socket_path=daemon.socket)
    assert r.returncode == 0
    reply = json.loads(r.stdout)
    assert reply["ok"] is True and reply["result"]["pid"] == daemon.proc.pid


def test_socket_from_environment(daemon):
    env = dict(os.environ, RELAYPOOL_SOCKET=daemon.socket)
    r = ctl("status", env=env)
    assert r.returncode == 0, r.stderr


def test_exit_1_when_the_daemon_reports_failure(daemon):
    with open(daemon.config, "a") as f:
        f.write("[pool]\nsessions = lots\n")
    r = ctl("reload", socket_path=daemon.socket)
    assert r.returncode == 1
    assert "reload_failed" in r.stderr
    assert f"{daemon.config}:" in r.stderr and "sessions: expected an integer" in r.stderr
    r = ctl("--json", "reload", socket_path=daemon.socket)
    assert r.returncode == 1
    assert json.loads(r.stdout)["error"]["code"] == "reload_failed"


@pytest.mark.parametrize("args", [
    [], ["bogus"], ["--bogus", "status"], ["status", "extra"], ["reload", "--now"], ["-s"],
])
def test_exit_2_usage(args, workdir):
    r = ctl(*args, socket_path=os.path.join(workdir, "none.sock") if args != ["-s"] else None)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert "Usage:" in r.stderr


def test_exit_3_unreachable(workdir):
    missing = os.path.join(workdir, "missing.sock")
    r = ctl("status", socket_path=missing)
    assert r.returncode == 3
    assert "cannot reach relaypoold" in r.stderr and missing in r.stderr
    r = ctl("version", socket_path=missing)
    assert r.returncode == 3 and r.stdout.startswith("relaypoolctl ")


def test_exit_3_when_daemon_vanishes_mid_request(workdir):
    # A server that accepts and closes without replying.
    import socket
    path = os.path.join(workdir, "mute.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(1)
    import threading

    def serve():
        c, _ = s.accept()
        c.recv(100)
        c.close()
    t = threading.Thread(target=serve)
    t.start()
    r = ctl("status", socket_path=path)
    t.join()
    assert r.returncode == 3
    assert "closed the connection" in r.stderr or "lost the connection" in r.stderr


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_for_every_command(cmd):
    for args in ([cmd, "--help"], ["help", cmd]):
        r = ctl(*args)
        assert r.returncode == 0
        assert f"relaypoolctl [-s SOCKET] [--json] {cmd}" in r.stdout
        assert "Exit status" in r.stdout


def test_global_help_and_version():
    r = ctl("--help")
    assert r.returncode == 0
    for cmd in COMMANDS:
        assert cmd in r.stdout
    assert "3  cannot reach the daemon" in r.stdout
    r = ctl("--version")
    assert r.returncode == 0 and r.stdout.startswith("relaypoolctl ")


def test_version_asks_the_daemon(daemon):
    r = ctl("version", socket_path=daemon.socket)
    assert r.returncode == 0
    assert "relaypoolctl" in r.stdout and "relaypoold" in r.stdout
    r = ctl("--json", "version", socket_path=daemon.socket)
    v = json.loads(r.stdout)
    assert v["daemon"]["protocol"] == v["protocol"]


def test_help_of_an_unknown_command_is_a_usage_error():
    r = ctl("help", "nope")
    assert r.returncode == 2 and r.stderr.startswith("relaypoolctl: ") and "nope" in r.stderr
    r = ctl("help")
    assert r.returncode == 0 and "help [COMMAND]" in r.stdout


def test_quiet_prints_failures_and_what_was_asked_for(relay_factory, daemon_factory, tmp_path):
    from conftest import gen_events
    relay = relay_factory().start()
    d = daemon_factory()
    d.write_config(relays={"r": relay.url})
    d.start()
    evs = gen_events(3, seed="quiet").splitlines()
    bad = json.loads(evs[2])
    bad["content"] = "changed"  # the id no longer matches
    f = tmp_path / "e.jsonl"
    f.write_text("\n".join(evs[:2] + [json.dumps(bad)]) + "\n")
    r = ctl("-q", "publish", str(f), socket_path=d.socket)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("FAILED line 3") and r.stderr == ""
    r = ctl("-q", "sync", "--relay", "r", "--filter", "{}", socket_path=d.socket)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    r = ctl("-q", "reload", socket_path=d.socket)
    assert r.returncode == 0 and r.stdout == ""
    # What was asked for still prints.
    r = ctl("-q", "query", "{}", socket_path=d.socket)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2
    r = ctl("-q", "status", socket_path=d.socket)
    assert r.returncode == 0 and "relaypoold" in r.stdout
    # Without -q the same publish reports every event.
    r = ctl("publish", str(f), socket_path=d.socket)
    assert len(r.stdout.splitlines()) == 3 and "published" in r.stderr
    assert d.stop() == 0


def test_publish_progress_on_a_terminal_only(relay_factory, daemon_factory, tmp_path):
    import pty
    import subprocess
    from conftest import RELAYPOOLCTL, gen_events
    relay = relay_factory().start()
    d = daemon_factory()
    d.write_config(relays={"r": relay.url})
    d.start()
    f = tmp_path / "e.jsonl"
    f.write_text(gen_events(300, seed="progress"))
    # Standard error a terminal, standard output a pipe: one updating progress line.
    master, slave = pty.openpty()
    p = subprocess.Popen([RELAYPOOLCTL, "-s", d.socket, "publish", str(f)], stdout=subprocess.PIPE,
                         stderr=slave)
    os.close(slave)
    out, _ = p.communicate(timeout=120)
    err = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    assert p.returncode == 0
    assert len(out.splitlines()) == 300
    assert b"publishing: " in err and b"\r\x1b[K" in err and b"300 published" in err
    # Piped: no progress line.
    r = ctl("publish", str(f), socket_path=d.socket)
    assert "publishing:" not in r.stderr
    assert d.stop() == 0


def test_sync_timeout_stops_waiting(fault_factory, daemon_factory):
    import time
    # The relay answers each REQ a minute late (and has no NIP-77: the sync pages by REQ).
    f = fault_factory("--req-delay", "60000")
    d = daemon_factory()
    d.write_config(relays={"f": f.url})
    d.start()
    t0 = time.monotonic()
    r = ctl("sync", "--relay", "f", "--filter", "{}", "--method", "req", "--timeout", "1s", socket_path=d.socket)
    assert r.returncode == 1 and "gave up waiting after 1000 ms" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 30
    r = ctl("sync", "--relay", "f", "--filter", "{}", "--timeout", "soon", socket_path=d.socket)
    assert r.returncode == 2 and "--timeout" in r.stderr
    # The daemon is fine and answers.
    assert ctl("status", socket_path=d.socket).returncode == 0
    assert d.stop() == 0


def test_quiet_verify_prints_only_the_invalid(tmp_path):
    from conftest import gen_events
    evs = gen_events(3, seed="qv").splitlines()
    bad = json.loads(evs[1])
    bad["content"] = "x"
    f = tmp_path / "e.jsonl"
    f.write_text("\n".join([evs[0], json.dumps(bad), evs[2]]) + "\n")
    r = ctl("verify", str(f))
    assert r.returncode == 1 and len(r.stdout.splitlines()) == 3 and "2 valid, 1 invalid" in r.stderr
    r = ctl("-q", "verify", str(f))
    assert r.returncode == 1 and r.stdout.startswith("line 2: invalid: id_mismatch") and r.stderr == ""
    assert len(r.stdout.splitlines()) == 1
    r = ctl("--json", "verify", str(f))
    assert [json.loads(x)["ok"] for x in r.stdout.splitlines()] == [True, False, True]
