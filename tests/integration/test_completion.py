"""bash completion for relaypoolctl (ctl/completion/relaypoolctl.bash), driven in a real bash:
the completion function is called with COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT set as bash
sets them, with bash-completion's helpers when they are installed and without them, and the
built relaypoolctl first on PATH. Relay and group names and outbox rows come from a live
daemon; with none reachable the same completions offer nothing and print nothing."""

import json
import os
import shlex
import shutil
import subprocess

import pytest

from conftest import RELAYPOOLCTL, SOURCE_ROOT, ctl, wait_for

SCRIPT = os.path.join(SOURCE_ROOT, "ctl", "completion", "relaypoolctl.bash")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"
BASH = shutil.which("bash") or "/bin/bash"
CTL_DIR = os.path.dirname(os.path.abspath(RELAYPOOLCTL)) if os.sep in RELAYPOOLCTL else None
EVENTS = os.path.join(SOURCE_ROOT, "tests", "data", "nostr-events.jsonl")

MODES = ["bash-completion", "plain"] if os.path.exists(BASH_COMPLETION) else ["plain"]


def split_words(line):
    """COMP_WORDS as bash builds them (COMP_WORDBREAKS includes '='), and COMP_CWORD, for a
    line completed at its end. Words here are simple: no quotes."""
    words = []
    for w in line.split():
        while "=" in w and w.startswith("--"):
            head, w = w.split("=", 1)
            words += [head, "="]
        words.append(w)
    if line.endswith(" ") or not words:
        words.append("")
    return words, len(words) - 1


def complete(line, mode="bash-completion", cwd=None, env=None, socket_env=None):
    """Runs the completion for LINE (cursor at its end); returns (COMPREPLY list, stderr)."""
    words, cword = split_words(line)
    script = []
    if mode == "bash-completion":
        script.append(f"source {shlex.quote(BASH_COMPLETION)}")
    script += [
        f"source {shlex.quote(SCRIPT)}",
        f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})",
        f"COMP_CWORD={cword}",
        f"COMP_LINE={shlex.quote(line)}",
        "COMP_POINT=${#COMP_LINE}",
        'COMPREPLY=()',
        '_relaypoolctl relaypoolctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"',
        'printf "%s\\n" "${COMPREPLY[@]}"',
    ]
    e = dict(env or os.environ)
    if CTL_DIR:
        e["PATH"] = CTL_DIR + os.pathsep + e.get("PATH", "/usr/bin:/bin")
    e.pop("RELAYPOOL_SOCKET", None)
    if socket_env:
        e["RELAYPOOL_SOCKET"] = socket_env
    r = subprocess.run([BASH, "--norc", "--noprofile", "-c", "\n".join(script)], capture_output=True,
                       text=True, env=e, cwd=cwd, timeout=30)
    assert r.returncode == 0, r.stderr
    return [x for x in r.stdout.split("\n") if x], r.stderr


def start_daemon(factory, name="d", **config):
    d = factory(name)
    d.write_config(**config)
    d.start()
    return d


RELAYS = {"alpha": "ws://127.0.0.1:1", "beta": "ws://127.0.0.1:1", "gamma": "ws://127.0.0.1:1"}
GROUPS = {"news": {"relays": "alpha beta", "filter": {"kinds": [1], "#t": ["name"]}},
          "archive": {"relays": "gamma"}}


@pytest.fixture
def pool_daemon(daemon_factory, workdir):
    """A daemon on a socket no relaypoolctl finds by itself (not the default, no env)."""
    return start_daemon(daemon_factory, "pool", relays=RELAYS, groups=GROUPS)


# ---- static completions ---------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_command_names(mode):
    assert complete("relaypoolctl su", mode)[0] == ["subscribe", "subscriptions"]
    every = set(complete("relaypoolctl ", mode)[0])
    assert every == {"status", "reload", "version", "publish", "query", "sync", "outbox", "relays", "stats",
                     "metrics", "trace", "subscribe", "subscriptions", "sign", "verify", "help"}
    # Global options are skipped when finding the command position.
    assert complete("relaypoolctl -j -s /nonexistent st", mode)[0] == ["status", "stats"]
    assert complete("relaypoolctl help sy", mode)[0] == ["sync"]
    assert complete("relaypoolctl help sync ", mode)[0] == []


@pytest.mark.parametrize("mode", MODES)
def test_global_options(mode):
    opts = complete("relaypoolctl --", mode)[0]
    assert {"--socket", "--json", "--help", "--version", "--quiet"} <= set(opts)
    assert "--method" not in opts


@pytest.mark.parametrize("mode", MODES)
def test_command_options_and_values(mode):
    opts = complete("relaypoolctl sync --", mode)[0]
    assert {"--method", "--up", "--group", "--relay", "--filter", "--since", "--help"} <= set(opts)
    assert "--socket" not in opts
    assert set(complete("relaypoolctl publish --", mode)[0]) >= {
        "--relay", "--group", "--quorum", "--no-wait", "--timeout", "--sign", "--kind", "--content", "--tag"}
    assert set(complete("relaypoolctl subscribe '{}' --", mode)[0]) >= {"--no-cache", "--until-eose", "--since"}
    assert complete("relaypoolctl outbox --p", mode)[0] == ["--pending"]
    assert complete("relaypoolctl relays --", mode)[0][0] == "--info"
    assert complete("relaypoolctl sync --method ", mode)[0] == ["auto", "negentropy", "req"]
    assert complete("relaypoolctl sync --method n", mode)[0] == ["negentropy"]
    assert complete("relaypoolctl sync -m r", mode)[0] == ["req"]
    assert complete("relaypoolctl sync --method=a", mode)[0] == ["auto"]
    assert complete("relaypoolctl publish --quorum ", mode)[0] == ["all", "any"]
    assert complete("relaypoolctl outbox ", mode)[0] == ["retry", "drop"]
    # Free-text values (-s is --since here, not the socket) offer nothing, not files.
    assert complete("relaypoolctl sync -s ", mode, cwd=SOURCE_ROOT)[0] == []
    assert complete("relaypoolctl query ", mode, cwd=SOURCE_ROOT)[0] == []


@pytest.mark.parametrize("mode", MODES)
def test_files(mode, workdir):
    for n in ("events.jsonl", "events-2.jsonl", "other.txt"):
        open(os.path.join(workdir, n), "w").close()
    os.mkdir(os.path.join(workdir, "evdir"))
    got = set(complete("relaypoolctl publish ev", mode, cwd=workdir)[0])
    assert {"events.jsonl", "events-2.jsonl"} <= got and "other.txt" not in got
    assert {"events.jsonl", "events-2.jsonl"} <= set(complete("relaypoolctl --json publish --no-wait ev", mode,
                                                              cwd=workdir)[0])
    assert "other.txt" in complete("relaypoolctl verify o", mode, cwd=workdir)[0]
    assert "other.txt" in complete("relaypoolctl -s o", mode, cwd=workdir)[0]
    assert "other.txt" in complete("relaypoolctl --socket=o", mode, cwd=workdir)[0]
    # Only one FILE.
    assert complete("relaypoolctl verify other.txt o", mode, cwd=workdir)[0] == []


# ---- live completions -------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_relay_and_group_names_from_the_daemon(mode, pool_daemon):
    s = pool_daemon.socket
    assert complete(f"relaypoolctl -s {s} sync --relay ", mode) == (["alpha", "beta", "gamma"], "")
    assert complete(f"relaypoolctl -s {s} publish -r a", mode)[0] == ["alpha"]
    assert complete(f"relaypoolctl --socket={s} subscribe --relay=b", mode)[0] == ["beta"]
    assert complete(f"relaypoolctl -s {s} outbox --relay g", mode)[0] == ["gamma"]
    assert complete(f"relaypoolctl -s {s} trace -r ", mode)[0] == ["alpha", "beta", "gamma"]
    assert complete(f"relaypoolctl -s {s} relays --info ", mode)[0] == ["alpha", "beta", "gamma"]
    # Groups: result.groups[].name of status, not the relays nor anything in a filter.
    assert complete(f"relaypoolctl -s {s} publish --group ", mode) == (["news", "archive"], "")
    assert complete(f"relaypoolctl -s {s} sync -g a", mode)[0] == ["archive"]
    assert complete(f"relaypoolctl -js {s} subscribe --group n", mode)[0] == ["news"]


def test_socket_from_the_environment(pool_daemon):
    assert complete("relaypoolctl sync --relay ", MODES[0], socket_env=pool_daemon.socket)[0] == \
        ["alpha", "beta", "gamma"]
    # -s on the line wins over the environment.
    assert complete("relaypoolctl -s /nonexistent/x.sock sync --relay ", MODES[0],
                    socket_env=pool_daemon.socket) == ([], "")


def test_socket_given_on_the_line_selects_the_daemon(daemon_factory):
    one = start_daemon(daemon_factory, "one", relays={"alpha": "ws://127.0.0.1:1"})
    two = start_daemon(daemon_factory, "two", relays={"beta": "ws://127.0.0.1:1"})
    assert complete(f"relaypoolctl -s {one.socket} sync --relay ")[0] == ["alpha"]
    assert complete(f"relaypoolctl --socket {two.socket} sync --relay ")[0] == ["beta"]
    # The command's own -s (--since) is not the socket.
    assert complete(f"relaypoolctl -s {two.socket} sync -s 1 --relay ")[0] == ["beta"]


@pytest.mark.parametrize("mode", MODES)
def test_no_daemon_no_names_no_noise(mode, workdir):
    missing = os.path.join(workdir, "none.sock")
    for line in (f"relaypoolctl -s {missing} sync --relay ", f"relaypoolctl -s {missing} publish --group ",
                 f"relaypoolctl -s {missing} outbox retry ", f"relaypoolctl -s {missing} relays --info a"):
        assert complete(line, mode) == ([], ""), line
    # Without -s and without $RELAYPOOL_SOCKET: the default socket, absent here (or not ours).
    if not os.path.exists("/run/relaypool/control.sock"):
        assert complete("relaypoolctl sync --relay ", mode) == ([], "")


def test_outbox_rows_from_the_daemon(daemon_factory):
    d = start_daemon(daemon_factory, "ob", relays={"down": "ws://127.0.0.1:1"},
                     pool={"max_age": "1s", "backoff_base": "100ms", "backoff_max": "200ms"})
    with open(EVENTS) as f:
        events = "".join(f.readlines()[:2])
    assert ctl("publish", "--no-wait", "-", input=events, socket_path=d.socket).returncode == 0

    def failed_rows():
        r = ctl("--json", "outbox", "--failed", socket_path=d.socket)
        return [str(x["row"]) for x in json.loads(r.stdout)["result"]["rows"]]
    rows = wait_for(lambda: len(failed_rows()) == 2 and failed_rows(), 15, what="expired rows")
    assert sorted(complete(f"relaypoolctl -s {d.socket} outbox retry ")[0]) == sorted(rows)
    assert sorted(complete(f"relaypoolctl -s {d.socket} outbox drop ")[0]) == sorted(rows)
    # Not after options, and not as a second ID.
    assert complete(f"relaypoolctl -s {d.socket} outbox retry {rows[0]} ")[0] == []


def test_every_option_of_every_command_completes():
    """The script's hard-coded option lists stay in step with each command's --help."""
    import re
    from conftest import RELAYPOOLCTL
    for cmd in ["status", "reload", "version", "publish", "query", "sync", "outbox", "relays", "stats",
                "metrics", "trace", "subscribe", "subscriptions", "sign", "verify"]:
        text = subprocess.run([RELAYPOOLCTL, cmd, "--help"], capture_output=True, text=True).stdout
        usage_and_options = "\n".join(line for line in text.splitlines()
                                      if line.startswith("Usage:") or line.lstrip().startswith("-"))
        wanted = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", usage_and_options)) - {"--json"}
        offered = set(complete(f"relaypoolctl {cmd} --")[0])
        assert wanted <= offered, (cmd, sorted(wanted - offered))
