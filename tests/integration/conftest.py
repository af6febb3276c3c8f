"""Integration test harness: real relaypoold and relaypoolctl binaries, a real Nostr relay
(@nostr-relay/core from npm behind tests/relay/relay.js), real Unix sockets, and a temp dir
per test. Every process a test starts is stopped at teardown, whatever the outcome."""

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request

import pytest

RELAYPOOLD = os.environ.get("RELAYPOOLD", "relaypoold")
RELAYPOOLCTL = os.environ.get("RELAYPOOLCTL", "relaypoolctl")
SOURCE_ROOT = os.environ.get(
    "RELAYPOOL_SOURCE_ROOT",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
RELAY_DIR = os.path.join(SOURCE_ROOT, "tests", "relay")
DATA_DIR = os.path.join(SOURCE_ROOT, "tests", "data")
NODE = os.environ.get("NODE", shutil.which("node") or "node")
# Sanitizer builds and one-CPU runs are slower: every bound on a wait grows by this factor
# (scripts/test.sh sets it for the ASan build). Waits poll a condition, so a fast machine
# never waits longer for it.
TIMEOUT_SCALE = float(os.environ.get("RELAYPOOL_TIMEOUT_SCALE", "1"))


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    timeout *= TIMEOUT_SCALE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Conn:
    """A raw control-socket connection speaking newline-delimited JSON."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout * TIMEOUT_SCALE)
        self.sock.connect(path)
        self.buf = b""

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def send(self, obj):
        self.send_raw(json.dumps(obj).encode() + b"\n")

    def recv(self):
        """Next reply line as a dict; None at EOF."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, obj):
        self.send(obj)
        return self.recv()

    def close(self):
        self.sock.close()


class Daemon:
    def __init__(self, workdir, name="d"):
        self.dir = workdir
        self.socket = os.path.join(workdir, f"{name}.sock")
        self.config = os.path.join(workdir, f"{name}.conf")
        self.cache = os.path.join(workdir, f"{name}-cache.db")
        self.logpath = os.path.join(workdir, f"{name}.log")
        self.proc = None
        self.returncode = None

    def write_config(self, relays=None, groups=None, daemon=None, pool=None, extra=""):
        """relays: {name: url or {key: value}}, groups: {name: {relays: "...", filter: obj}}."""
        settings = {"socket": self.socket, "cache": self.cache, "log_level": "debug"}
        settings.update(daemon or {})
        lines = ["[daemon]"] + [f"{k} = {v}" for k, v in settings.items()]
        if pool:
            lines.append("[pool]")
            lines += [f"{k} = {v}" for k, v in pool.items()]
        for name, spec in (relays or {}).items():
            spec = {"url": spec} if isinstance(spec, str) else spec
            lines.append(f"[relay {name}]")
            lines += [f"{k} = {v}" for k, v in spec.items()]
        for name, spec in (groups or {}).items():
            lines.append(f"[group {name}]")
            for k, v in spec.items():
                lines.append(f"{k} = {json.dumps(v) if k == 'filter' else v}")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n" + extra)

    def start(self, wait=True, args=(), env=None):
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen([RELAYPOOLD, "-c", self.config, *args], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"relaypoold exited with {self.proc.returncode}:\n{self.logtext()}")
            try:
                c = Conn(self.socket, timeout=1)
                c.close()
                return True
            except OSError:
                return False
        wait_for(ready, timeout, what="relaypoold's control socket")

    def logtext(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def conn(self):
        return Conn(self.socket)

    def request(self, obj):
        c = self.conn()
        try:
            return c.request(obj)
        finally:
            c.close()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=None, timeout=15.0):
        """Stops the daemon and returns its exit code (the daemon must exit by itself)."""
        sig = signal.SIGTERM if sig is None else sig
        timeout *= TIMEOUT_SCALE
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"relaypoold did not exit within {timeout}s of signal {sig}:\n{self.logtext()}")
        if self.returncode < 0 and self.returncode != -sig:
            # A crash (a sanitizer's abort, an assertion): its report is in the log.
            raise AssertionError(f"relaypoold died of signal {-self.returncode} while stopping:\n"
                                 f"{self.logtext()[-20000:]}")
        return self.returncode

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Relay:
    """The real Nostr relay (tests/relay/relay.js) on 127.0.0.1 and a free port. It keeps
    its events in a file, so a restart on the same port keeps them."""

    script = os.path.join(RELAY_DIR, "relay.js")

    def __init__(self, workdir, name="relay"):
        self.dir = workdir
        self.db = os.path.join(workdir, f"{name}.sqlite")
        self.logpath = os.path.join(workdir, f"{name}.log")
        self.port = None
        self.proc = None

    def command(self, port, args):
        # A high default limit so one REQ returns everything a test published.
        return [NODE, self.script, "--port", str(port), "--db", self.db, "--default-limit", "1000", *args]

    def start(self, port=0, args=()):
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.command(port, args), stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("LISTENING "):
            self.proc.kill()
            raise AssertionError(f"relay did not start: {line!r}\n{open(self.logpath).read()}")
        self.port = int(line.split()[1])
        return self

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def events(self, *filters):
        """Every stored event matching the filters (REQ until EOSE), as dicts."""
        return relay_req(self.url, *(filters or ({"limit": 10000},)))

    def ids(self, *filters):
        return {e["id"] for e in self.events(*filters)}


class FaultRelay(Relay):
    """tests/fixtures/fault-relay.js: a relay that misbehaves on request (see its --help)."""

    script = os.path.join(SOURCE_ROOT, "tests", "fixtures", "fault-relay.js")

    def command(self, port, args):
        self.tls = "--tls" in args
        return [NODE, self.script, "--port", str(port), *args]

    def stats(self):
        ctx = None
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        scheme = "https" if self.tls else "http"
        with urllib.request.urlopen(f"{scheme}://127.0.0.1:{self.port}/stats", timeout=10, context=ctx) as r:
            return json.load(r)


def relay_req(url, *filters):
    r = subprocess.run([NODE, os.path.join(RELAY_DIR, "tools.js"), "req", url, *[json.dumps(f) for f in filters]],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def gen_events(n, seed="relaypool-tests", kind=1, tags=(), since=1700000000, content_size=0, same_time=False):
    """n events signed by nostr-tools (not by us), as JSON lines text; created_at from since
    upward, or all since."""
    args = [NODE, os.path.join(RELAY_DIR, "tools.js"), "gen", str(n), "--seed", seed, "--kind", str(kind),
            "--since", str(since)] + (["--same-time"] if same_time else [])
    for t in tags:
        args += ["--tag", t]
    if content_size:
        args += ["--content-size", str(content_size)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300, check=True)
    return r.stdout


def rss_anon_kib(pid):
    """A process's anonymous resident memory (heap, not mapped files), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError("no RssAnon")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ctl(*args, socket_path=None, input=None, timeout=60, env=None):
    timeout *= TIMEOUT_SCALE
    cmd = [RELAYPOOLCTL]
    if socket_path:
        cmd += ["-s", socket_path]
    cmd += list(args)
    return subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, env=env,
                          text=isinstance(input, str) or input is None)


@pytest.fixture
def workdir():
    # Short paths: AF_UNIX socket paths are limited to 107 bytes.
    d = tempfile.mkdtemp(prefix="rp-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def daemon_factory(workdir):
    started = []

    def make(name="d"):
        d = Daemon(workdir, name)
        started.append(d)
        return d
    yield make
    for d in started:
        d.kill()


@pytest.fixture
def daemon(daemon_factory):
    """A running daemon with an empty relay list; tests may rewrite its config and reload."""
    d = daemon_factory()
    d.write_config()
    d.start()
    yield d
    if d.proc.poll() is None:
        assert d.stop() == 0, d.logtext()


@pytest.fixture
def relay_factory(workdir):
    started = []

    def make(name="relay"):
        r = Relay(workdir, name)
        started.append(r)
        return r
    yield make
    for r in started:
        r.stop()


@pytest.fixture
def relay(relay_factory):
    return relay_factory().start()


@pytest.fixture
def fault_factory(workdir):
    started = []

    def make(*args, name="fault", port=0):
        r = FaultRelay(workdir, name)
        started.append(r)
        return r.start(port=port, args=args)
    yield make
    for r in started:
        r.stop()
