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
