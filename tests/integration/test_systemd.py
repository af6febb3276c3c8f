"""relaypoold as a systemd service, tested without systemd as PID 1 (see NOTES.md):

- the units as "meson install" installs them: systemd-analyze verify, the security exposure,
  systemd-sysusers on the sysusers.d entry;
- socket activation through systemd-socket-activate;
- sd_notify through a datagram socket we listen on (NOTIFY_SOCKET): READY=1 only once the
  control socket accepts, STATUS=, RELOADING=1 ... READY=1, WATCHDOG=1 at WATCHDOG_USEC/2,
  STOPPING=1 with every pending outbox row kept;
- structured journal entries, caught on a socket bind-mounted over the journal's in a private
  mount namespace."""

import glob
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import RELAYPOOLD, Conn, Daemon, ctl, gen_events, wait_for

BUILD_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(RELAYPOOLD)))  # BUILD/daemon/relaypoold
SYSTEMD_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
               "JOURNAL_STREAM")
SANITIZER_ENV = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")


def clean_env(**extra):
    """Our environment without anything systemd may have set for the test runner itself."""
    env = {k: v for k, v in os.environ.items() if k not in SYSTEMD_ENV}
    env.update(extra)
    return env


def parse_notify(data):
    return dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)


class Datagrams:
    """A datagram socket a thread reads all the time (a writer must never block on it), keeping
    every message, parsed, with its arrival time (time.monotonic, the clock of MONOTONIC_USEC).
    By default it stands in for systemd's notification socket."""

    def __init__(self, workdir, name="notify.sock", parse=parse_notify):
        self.path = os.path.join(workdir, name)
        self.parse = parse
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.messages = []  # (time, {field: value})
        self.cond = threading.Condition()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            fields = self.parse(data)
            with self.cond:
                self.messages.append((time.monotonic(), fields))
                self.cond.notify_all()

    def wait(self, pred, start=0, timeout=15.0, what="a notification"):
        """Index of the first message at or after start for which pred(fields) holds."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.messages)):
                    if pred(self.messages[i][1]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; got {self.fields()}")
                self.cond.wait(left)

    def wait_key(self, key, start=0, timeout=15.0):
        return self.wait(lambda f: key in f, start, timeout, what=key)

    def fields(self, start=0):
        with self.cond:
            return [f for _, f in self.messages[start:]]

    def times(self, key):
        with self.cond:
            return [t for t, f in self.messages if key in f]

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


class ServiceDaemon(Daemon):
    """A Daemon started with NOTIFY_SOCKET (and other systemd variables), optionally behind a
    wrapper command that execs the daemon (so the pid is the daemon's)."""

    def start(self, wait=False, args=(), env=None, wrapper=()):
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen([*wrapper, RELAYPOOLD, "-c", self.config, *args], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)
        if wait:
            self.wait_ready()
        return self


@pytest.fixture
def notify(workdir):
    n = Datagrams(workdir)
    yield n
    n.close()


@pytest.fixture
def service(workdir):
    started = []

    def make(name="d"):
        d = ServiceDaemon(workdir, name)
        started.append(d)
        return d
    yield make
    for d in started:
        d.kill()


def start_notified(service, notify, wrapper=(), relays=None, **env):
    d = service()
    d.write_config(relays=relays)
    d.start(env=clean_env(NOTIFY_SOCKET=notify.path, **env), wrapper=wrapper)
    return d


# ---- the installed units ----------------------------------------------------------------

@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The build as "meson install --destdir" lays it out, plus a copy of the host's own
    units: "systemd-analyze verify --root" resolves every unit (sysinit.target, ...) and every
    Exec*= binary inside the root, so both must be there."""
    assert os.path.exists(os.path.join(BUILD_ROOT, "meson-private")), f"{BUILD_ROOT} is not a meson build dir"
    root = str(tmp_path_factory.mktemp("root"))
    r = subprocess.run(["meson", "install", "-C", BUILD_ROOT, "--no-rebuild", "--quiet", "--destdir", root],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    units = glob.glob(os.path.join(root, "**", "lib", "systemd", "system", "relaypoold.service"), recursive=True)
    assert len(units) == 1, units
    unitdir = os.path.dirname(units[0])
    prefix = os.path.dirname(os.path.dirname(os.path.dirname(unitdir)))  # PREFIX/lib/systemd/system
    os.makedirs(os.path.join(root, "usr", "lib", "systemd"), exist_ok=True)
    if not os.path.exists(os.path.join(root, "usr", "lib", "systemd", "system")):
        shutil.copytree("/usr/lib/systemd/system", os.path.join(root, "usr", "lib", "systemd", "system"),
                        symlinks=True)
    return {"root": root, "unitdir": unitdir, "prefix": prefix}


def unit_text(installed, name):
    with open(os.path.join(installed["unitdir"], name)) as f:
        return f.read()


def test_install_lays_out_units_sysusers_and_example(installed):
    prefix, root = installed["prefix"], installed["root"]
    service_text = unit_text(installed, "relaypoold.service")
    # The Exec paths are the configured prefix's, and the binaries are installed there.
    exec_start = re.search(r"^ExecStart=(\S+)", service_text, re.M).group(1)
    exec_reload = re.search(r"^ExecReload=(\S+)", service_text, re.M).group(1)
    assert exec_start == os.path.join(prefix[len(root):], "sbin", "relaypoold")
    assert exec_reload == os.path.join(prefix[len(root):], "bin", "relaypoolctl")
    for path in (exec_start, exec_reload):
        assert os.access(root + path, os.X_OK), path
    assert not re.search(r"@[A-Z_]+@", service_text), "an unsubstituted @VAR@"
    assert os.path.exists(os.path.join(installed["unitdir"], "relaypoold.socket"))
    assert os.path.exists(os.path.join(prefix, "lib", "sysusers.d", "relaypool.conf"))
    assert os.path.exists(os.path.join(prefix, "share", "doc", "relaypool", "relaypoold.conf"))


def test_units_pass_systemd_analyze_verify(installed):
    unitdir = installed["unitdir"]
    r = subprocess.run(["systemd-analyze", "verify", "--root", installed["root"],
                        os.path.join(unitdir, "relaypoold.service"), os.path.join(unitdir, "relaypoold.socket")],
                       capture_output=True, text=True, timeout=60)
    # Unknown or misspelled settings are only warnings: any output counts as a failure.
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr


def test_verify_catches_a_missing_binary(installed):
    """The check above is real: the same units fail once ExecStart's binary is gone."""
    binary = installed["root"] + re.search(r"^ExecStart=(\S+)", unit_text(installed, "relaypoold.service"),
                                           re.M).group(1)
    os.rename(binary, binary + ".away")
    try:
        r = subprocess.run(["systemd-analyze", "verify", "--root", installed["root"],
                            os.path.join(installed["unitdir"], "relaypoold.service")],
                           capture_output=True, text=True, timeout=60)
    finally:
        os.rename(binary + ".away", binary)
    assert r.returncode != 0
    assert "is not executable" in r.stderr


def test_security_exposure_at_most_2(installed):
    unit = os.path.join(installed["unitdir"], "relaypoold.service")
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--threshold=20", unit],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for relaypoold\.service: (\d+\.\d)", r.stdout)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 2.0, r.stdout
    assert r.returncode == 0, r.stdout + r.stderr


def test_hardening_settings_present(installed):
    text = unit_text(installed, "relaypoold.service")
    settings = dict(re.findall(r"^(\w+)=(.*)$", text, re.M))
    for key, value in {
        "Type": "notify", "Restart": "on-failure", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
        "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
        "ProtectClock": "yes", "ProtectHostname": "yes", "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "RestrictNamespaces": "yes", "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
        "RestrictRealtime": "yes", "SystemCallArchitectures": "native", "CapabilityBoundingSet": "",
        "UMask": "0077", "StateDirectory": "relaypool", "ConfigurationDirectory": "relaypool",
        "User": "relaypool",
    }.items():
        assert settings.get(key) == value, f"{key}={settings.get(key)!r}"
    assert "SystemCallFilter=@system-service" in text
    assert re.search(r"^WatchdogSec=\d+", text, re.M)
    assert re.search(r"^ExecReload=", text, re.M)
    sock = dict(re.findall(r"^(\w+)=(.*)$", unit_text(installed, "relaypoold.socket"), re.M))
    assert sock["ListenStream"] == "/run/relaypool/control.sock"
    assert sock["SocketMode"] == "0660" and sock["SocketGroup"] == "relaypool"
    assert sock["FileDescriptorName"] == "control"


def test_sysusers_creates_the_relaypool_user(installed, tmp_path):
    conf = os.path.join(installed["prefix"], "lib", "sysusers.d", "relaypool.conf")
    (tmp_path / "etc").mkdir()
    r = subprocess.run(["systemd-sysusers", "--root", str(tmp_path), conf], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    passwd = [line.split(":") for line in (tmp_path / "etc" / "passwd").read_text().splitlines()]
    group = [line.split(":") for line in (tmp_path / "etc" / "group").read_text().splitlines()]
    user = [p for p in passwd if p[0] == "relaypool"]
    assert len(user) == 1 and user[0][5] == "/var/lib/relaypool"
    gid = [g[2] for g in group if g[0] == "relaypool"]
    assert gid == [user[0][3]]


# ---- socket activation ------------------------------------------------------------------

def activate(d, listen, *opts, env=None):
    """d's daemon behind systemd-socket-activate, which passes only the variables it is told."""
    env = env or {}
    env.update({k: os.environ[k] for k in SANITIZER_ENV if k in os.environ})
    cmd = ["systemd-socket-activate", "-l", listen, *opts]
    for k, v in env.items():
        cmd += ["-E", f"{k}={v}"]
    d.log = open(d.logpath, "ab")
    d.proc = subprocess.Popen([*cmd, RELAYPOOLD, "-c", d.config], stdout=d.log, stderr=subprocess.STDOUT,
                              env=clean_env())
    wait_for(lambda: os.path.exists(listen), what="systemd-socket-activate's socket")
    return d


def test_socket_activation_answers_the_first_request(service, notify, workdir):
    d = service()
    d.write_config()  # [daemon] socket = d.sock, which must stay unused
    listen = os.path.join(workdir, "activated.sock")
    activate(d, listen, "--fdname=control", env={"NOTIFY_SOCKET": notify.path})
    assert notify.fields() == []  # nothing runs before the first connection
    r = ctl("--json", "status", socket_path=listen, timeout=30)
    assert r.returncode == 0, r.stderr + d.logtext()
    assert '"ok":true' in r.stdout
    notify.wait_key("READY")
    log = d.logtext()
    assert f"systemd: using the control socket {listen} passed by socket activation" in log
    assert f"[daemon] socket = {d.socket} is not used" in log
    assert not os.path.exists(d.socket)
    assert re.search(r"(?m)^<6>control: listening on an inherited socket$", log)
    assert d.stop() == 0, d.logtext()
    # The socket file belongs to whoever passed it: the daemon leaves it alone.
    assert os.path.exists(listen)


def test_socket_activation_picks_the_socket_named_control(service, workdir):
    d = service()
    d.write_config()
    other, listen = os.path.join(workdir, "other.sock"), os.path.join(workdir, "ctl.sock")
    activate(d, other, "-l", listen, "--fdname=metrics:control")
    wait_for(lambda: os.path.exists(listen), what="the second socket")
    c = Conn(listen, timeout=30)
    assert c.request({"id": 1, "op": "hello"})["ok"]
    c.close()
    assert "closing passed socket 3 named \"metrics\"" in d.logtext()
    assert d.stop() == 0, d.logtext()


def test_socket_activation_refuses_sockets_without_control(service, workdir):
    d = service()
    d.write_config()
    a, b = os.path.join(workdir, "a.sock"), os.path.join(workdir, "b.sock")
    activate(d, a, "-l", b, "--fdname=one:two")
    s = socket.socket(socket.AF_UNIX)
    s.connect(a)
    assert d.proc.wait(30) == 1
    assert '2 sockets passed, none named "control"' in d.logtext()
    assert not os.path.exists(d.socket)


def test_socket_activation_refuses_a_datagram_socket(service, workdir):
    d = service()
    d.write_config()
    listen = os.path.join(workdir, "dgram.sock")
    activate(d, listen, "--datagram", "--fdname=control")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"wake up", listen)
    assert d.proc.wait(30) == 1
    assert "the passed control socket is not a listening AF_UNIX stream socket" in d.logtext()


# ---- sd_notify ----------------------------------------------------------------------------

def test_ready_only_once_the_socket_accepts(service, notify):
    d = start_notified(service, notify)
    i = notify.wait_key("READY")
    # At the moment READY=1 arrives, the control socket already accepts and answers.
    c = Conn(d.socket, timeout=10)
    assert c.request({"id": 1, "op": "hello"})["ok"]
    c.close()
    fields = notify.fields()
    assert fields[i]["READY"] == "1"
    assert fields[i]["STATUS"] == "0/0 relays up, 0/0 sessions ready, 0 queued, 0 in flight, 0 failing"
    assert i == 0, fields  # nothing before READY=1 (no watchdog here)
    assert d.stop() == 0


def test_no_ready_when_setup_fails(service, notify):
    d = service()
    d.write_config()
    with open(d.socket, "w") as f:
        f.write("not a socket")
    d.start(env=clean_env(NOTIFY_SOCKET=notify.path))
    assert d.proc.wait(30) == 1
    i = notify.wait_key("ERRNO")
    fields = notify.fields()
    assert all("READY" not in f for f in fields), fields
    assert fields[i]["STATUS"].startswith("Failed to start: ")
    assert int(fields[i]["ERRNO"]) > 0


def test_status_follows_the_pool(service, notify, relay):
    d = start_notified(service, notify, relays={"r": relay.url})
    i = notify.wait_key("READY")
    assert notify.fields()[i]["STATUS"].startswith("0/1 relays up")
    notify.wait(lambda f: f.get("STATUS", "").startswith("1/1 relays up, 2/2 sessions ready, 0 queued, "
                                                         "0 in flight, 0 failing"),
                what="STATUS with the relay up")
    relay.stop()
    notify.wait(lambda f: f.get("STATUS", "").startswith("0/1 relays up, 0/2 sessions ready")
                and f["STATUS"].endswith(", 1 failing"), what="STATUS with the relay down")
    assert d.stop() == 0, d.logtext()


def test_reload_notifications_good_and_bad(service, notify, workdir):
    d = start_notified(service, notify)
    start = notify.wait_key("READY") + 1

    def reload_and_check(trigger):
        nonlocal start
        before = time.monotonic()
        trigger()
        i = notify.wait_key("RELOADING", start)
        j = notify.wait_key("READY", i + 1)
        after = time.monotonic()
        fields = notify.fields()
        # MONOTONIC_USEC is CLOCK_MONOTONIC, like time.monotonic().
        assert before - 0.001 <= int(fields[i]["MONOTONIC_USEC"]) / 1e6 <= after + 0.001, fields[i]
        start = j + 1
        return fields[j]["STATUS"]

    d.write_config(relays={"a": "ws://127.0.0.1:1"})
    status = reload_and_check(lambda: d.signal(signal.SIGHUP))
    assert status.startswith("0/1 relays up")
    assert "reload failed" not in status

    with open(d.config, "a") as f:
        f.write("[relay b]\nurl = gopher://x\n")
    status = reload_and_check(lambda: d.signal(signal.SIGHUP))
    assert status.startswith("0/1 relays up")  # still the previous configuration
    assert status.endswith("; last reload failed, running the previous configuration")
    assert "reload failed, keeping the running configuration: " in d.logtext()

    # relaypoolctl reload (the unit's ExecReload=) notifies the same way and reports failure.
    results = []
    status = reload_and_check(lambda: results.append(ctl("reload", socket_path=d.socket)))
    assert results[0].returncode == 1
    assert status.endswith("; last reload failed, running the previous configuration")
    d.write_config(relays={"a": "ws://127.0.0.1:1", "c": "ws://127.0.0.1:2"})
    results.clear()
    status = reload_and_check(lambda: results.append(ctl("reload", socket_path=d.socket)))
    assert results[0].returncode == 0, results[0].stderr
    assert status.startswith("0/2 relays up") and "reload failed" not in status
    assert d.stop() == 0


def test_watchdog_pings_at_half_the_period(service, notify):
    # WATCHDOG_PID must be the daemon's own pid: the shell exports its pid, then execs it.
    d = start_notified(service, notify, wrapper=("sh", "-c", 'export WATCHDOG_PID=$$; exec "$@"', "sh"),
                       WATCHDOG_USEC="500000")
    notify.wait_key("READY")
    wait_for(lambda: len(notify.times("WATCHDOG")) >= 9, 30, what="nine watchdog pings")
    times = notify.times("WATCHDOG")
    gaps = sorted(b - a for a, b in zip(times, times[1:]))
    assert 0.2 <= gaps[len(gaps) // 2] <= 0.3, gaps  # the median: 250 ms
    assert gaps[-1] < 0.5, gaps  # never past the 500 ms deadline
    assert "watchdog enabled, pinging every 250 ms" in d.logtext()
    assert d.stop() == 0


def test_no_watchdog_for_another_pid_or_without_usec(service, notify, workdir):
    d = start_notified(service, notify, WATCHDOG_USEC="200000", WATCHDOG_PID="1")
    notify.wait_key("READY")
    e = service("e")
    e.write_config()
    e.start(env=clean_env(NOTIFY_SOCKET=notify.path))
    notify.wait(lambda f: "READY" in f, start=1)
    time.sleep(1)
    assert notify.times("WATCHDOG") == [], notify.fields()
    assert d.stop() == 0 and e.stop() == 0


def test_sigterm_sends_stopping_then_exits_cleanly(service, notify):
    d = start_notified(service, notify, relays={"a": "ws://127.0.0.1:1"})
    notify.wait_key("READY")
    c = d.conn()
    assert c.request({"id": 1, "op": "hello"})["ok"]
    d.signal(signal.SIGTERM)
    i = notify.wait_key("STOPPING")
    assert notify.fields()[i]["STATUS"] == "Shutting down"
    assert d.proc.wait(15) == 0, d.logtext()
    assert c.recv() is None
    time.sleep(0.1)  # anything sent after STOPPING=1 has arrived by now
    for f in notify.fields(i + 1):  # only watchdog pings may follow
        assert "READY" not in f and f.get("STATUS", "Shutting down") == "Shutting down", notify.fields(i)


def test_sigterm_loses_no_pending_outbox_row(service, notify, fault_factory):
    """Events queued and in flight (sent, never answered) when SIGTERM arrives stay pending in
    the outbox: the restarted daemon finds every one of them."""
    fault = fault_factory("--ok", "none")
    d = start_notified(service, notify, relays={"f": {"url": fault.url, "sessions": 1, "inflight": 4}})
    notify.wait(lambda f: f.get("STATUS", "").startswith("1/1 relays up"), what="the relay up")
    events = gen_events(10, seed="systemd-stop")
    r = ctl("publish", "--no-wait", "-", input=events, socket_path=d.socket)
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: fault.stats()["events_received"] == 4, what="a full window in flight")
    notify.wait(lambda f: ", 6 queued, 4 in flight, " in f.get("STATUS", ""), what="STATUS with the outbox")
    d.signal(signal.SIGTERM)
    notify.wait_key("STOPPING")
    assert d.proc.wait(15) == 0, d.logtext()
    d.start(env=clean_env(), wait=True)
    outbox = d.request({"id": "s", "op": "status"})["result"]["cache"]["outbox"]
    assert outbox["pending"] == 10, outbox
    assert d.stop() == 0, d.logtext()


def test_sighup_while_stopping_sends_no_ready(service, notify, workdir):
    """A reload that races a shutdown must not tell systemd READY=1 after STOPPING=1."""
    d = start_notified(service, notify)
    notify.wait_key("READY")
    c = d.conn()  # a client that never reads keeps the shutdown going for a moment
    d.signal(signal.SIGTERM)
    i = notify.wait_key("STOPPING")
    assert d.proc.poll() is None, d.logtext()  # the client's linger keeps it up for ~2 s
    d.signal(signal.SIGHUP)
    assert d.proc.wait(15) == 0
    c.close()
    assert "SIGHUP while shutting down, ignoring" in d.logtext()
    assert all("READY" not in f and "RELOADING" not in f for f in notify.fields(i)), notify.fields(i)


# ---- the journal ----------------------------------------------------------------------------

def parse_journal_native(data):
    """One datagram of journald's native protocol: NAME=value lines, or NAME\\n, a 64-bit
    little-endian size and that many bytes, then \\n (for values with newlines)."""
    fields, pos = {}, 0
    while pos < len(data):
        nl = data.index(b"\n", pos)
        line = data[pos:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            pos = nl + 1
        else:
            k = line
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            v = data[nl + 9:nl + 9 + n]
            pos = nl + 9 + n + 1
        fields[k.decode()] = v.decode()
    return fields


def can_unshare_mounts():
    if not shutil.which("unshare"):
        return False
    r = subprocess.run(["unshare", "--mount", "true"], capture_output=True)
    return r.returncode == 0


@pytest.mark.skipif(not can_unshare_mounts(), reason="needs unshare --mount (root) to stand in for journald")
def test_structured_journal_entries(service, workdir):
    """With stderr as the journal stream (JOURNAL_STREAM=dev:ino of stderr), the daemon writes
    native journal entries. libsystemd's path is fixed (/run/systemd/journal/socket), so the
    daemon runs in a private mount namespace where our socket is bind-mounted there."""
    journal = Datagrams(workdir, "journal.sock", parse=parse_journal_native)
    d = service()
    d.write_config(relays={"down": "ws://127.0.0.1:1"}, pool={"backoff_base": "100ms", "backoff_max": "200ms"})
    d.log = open(d.logpath, "ab")
    st = os.fstat(d.log.fileno())
    script = ('mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && '
              ': > /run/systemd/journal/socket && mount --bind "$1" /run/systemd/journal/socket && '
              'shift && exec "$@"')
    try:
        d.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                                   journal.path, RELAYPOOLD, "-c", d.config], stdout=d.log, stderr=d.log,
                                  env=clean_env(JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}"))
        d.wait_ready()
        assert d.request({"id": "journal-test", "op": "reload"})["ok"]
        journal.wait(lambda e: e.get("RELAY") == "down" and e.get("SESSION") == "0", what="a session entry")
        assert d.stop() == 0, d.logtext()
        journal.wait(lambda e: e.get("MESSAGE") == "stopped", what="the last entry")
    finally:
        journal.close()
    entries = journal.fields()
    started = [e for e in entries if e["MESSAGE"].startswith("relaypoold ") and " started with " in e["MESSAGE"]]
    assert len(started) == 1, entries
    e = started[0]
    assert e["PRIORITY"] == "5"
    assert e["SYSLOG_IDENTIFIER"] == "relaypoold"
    assert e["CODE_FILE"].endswith("daemon.c") and e["CODE_FUNC"] == "daemon_run" and int(e["CODE_LINE"]) > 0
    assert any(x["MESSAGE"] == "shutting down" and x["PRIORITY"] == "5" for x in entries)
    assert any(x["MESSAGE"].startswith("control: listening on ") and x["PRIORITY"] == "6" for x in entries)
    # Context fields: the relay and session of a session's line, the request id of a request's.
    failed = [x for x in entries if x.get("RELAY") == "down" and "connection failed" in x["MESSAGE"]]
    assert failed and failed[0]["SESSION"] in ("0", "1") and failed[0]["MESSAGE"].startswith("relay down session ")
    assert any(x.get("REQUEST_ID") == '"journal-test"' and "reload requested" in x["MESSAGE"] for x in entries)
    # Everything went to the journal, nothing to stderr.
    assert d.logtext() == "", d.logtext()


def test_stderr_lines_carry_priority_prefixes_without_journal(service, workdir):
    d = service()
    d.write_config()
    # JOURNAL_STREAM naming some other file: stderr is not the journal, so plain lines.
    d.start(env=clean_env(JOURNAL_STREAM="1:1"), wait=True)
    assert d.stop() == 0
    lines = d.logtext().splitlines()
    assert lines and all(re.match(r"<[0-7]>", line) for line in lines), lines
    assert "<5>shutting down" in lines
