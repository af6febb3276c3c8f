"""Events end to end: relaypoolctl verify (offline) on nostr-tools' vectors and on broken
input, relaypoolctl sign through the daemon's key (hex and nsec key files), the key file's
permission check, and signatures checked by nostr-tools itself."""

import json
import os
import subprocess

import pytest

from conftest import DATA_DIR, NODE, RELAY_DIR, RELAYPOOLD, ctl

EVENTS = os.path.join(DATA_DIR, "nostr-events.jsonl")
EXPECTED = os.path.join(DATA_DIR, "nostr-events-expected.jsonl")
# BIP-340 test vector 1's key pair.
SECRET_HEX = "b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfef"
PUBKEY_HEX = "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659"


def read_lines(path):
    with open(path, "rb") as f:
        return [line for line in f.read().split(b"\n") if line]


def test_verify_all_nostr_tools_vectors():
    r = ctl("verify", EVENTS)
    assert r.returncode == 0, r.stdout + r.stderr
    expected = [json.loads(line)["id"] for line in read_lines(EXPECTED)]
    assert r.stdout.splitlines() == [f"ok {i}" for i in expected]
    assert f"{len(expected)} valid, 0 invalid" in r.stderr


def test_verify_from_stdin_and_json(tmp_path):
    data = open(EVENTS, "rb").read()
    r = subprocess.run([os.environ.get("RELAYPOOLCTL", "relaypoolctl"), "--json", "verify", "-"], input=data,
                       capture_output=True, timeout=60)
    assert r.returncode == 0
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(rows) == len(read_lines(EVENTS)) and all(x["ok"] for x in rows)


def test_verify_reports_each_bad_line(tmp_path):
    lines = read_lines(EVENTS)[:3]
    ev = json.loads(lines[1])
    ev["content"] += "!"
    bad_sig = json.loads(lines[2])
    bad_sig["sig"] = ("0" if bad_sig["sig"][0] != "0" else "1") + bad_sig["sig"][1:]
    real = json.loads(lines[0])
    real["created_at"] = float(real["created_at"])
    f = tmp_path / "mixed.jsonl"
    f.write_bytes(b"\n".join([lines[0], json.dumps(ev).encode(), b"", b"{not json", json.dumps(bad_sig).encode(),
                              json.dumps(real).encode(), b"{\"kind\":1,\"kind\":1}", b"[]"]) + b"\n")
    r = ctl("verify", str(f))
    assert r.returncode == 1
    out = r.stdout.splitlines()
    assert out[0].startswith("ok ")
    assert out[1].startswith("line 2: invalid: id_mismatch:")
    assert out[2].startswith("line 4: invalid: invalid_json:")
    assert out[3].startswith("line 5: invalid: bad_signature:")
    assert out[4].startswith("line 6: invalid: invalid_created_at: created_at must be an integer, not a real")
    assert out[5].startswith("line 7: invalid: duplicate_key:")
    assert out[6].startswith("line 8: invalid: not_object:")
    assert "1 valid, 6 invalid" in r.stderr
    r = ctl("--json", "verify", str(f))
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["line"] for x in rows] == [1, 2, 4, 5, 6, 7, 8]
    assert rows[1]["reason"] == "id_mismatch" and rows[1]["ok"] is False


def test_verify_usage_and_missing_file(workdir):
    assert ctl("verify", "a", "b").returncode == 2
    assert ctl("verify", "--frobnicate").returncode == 2
    r = ctl("verify", os.path.join(workdir, "missing.jsonl"))
    assert r.returncode == 1 and "cannot open" in r.stderr


def write_key(workdir, text, mode=0o600, name="key"):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def nsec_of(secret_hex):
    code = ("const {nip19}=require(process.argv[1]);"
            "console.log(nip19.nsecEncode(Buffer.from(process.argv[2],'hex')))")
    return subprocess.run([NODE, "-e", code, os.path.join(RELAY_DIR, "node_modules", "nostr-tools"), secret_hex],
                          capture_output=True, text=True, check=True).stdout.strip()


def nostr_tools_verify(event):
    code = ("const {verifyEvent}=require(process.argv[1]);"
            "const e=JSON.parse(process.argv[2]);process.exit(verifyEvent(e)?0:1)")
    return subprocess.run([NODE, "-e", code, os.path.join(RELAY_DIR, "node_modules", "nostr-tools"),
                           json.dumps(event)], capture_output=True, timeout=30).returncode == 0


@pytest.mark.parametrize("form", ["hex", "hex-upper", "nsec", "nsec-upper"])
def test_sign_with_the_daemons_key(daemon_factory, workdir, form):
    text = {"hex": SECRET_HEX + "\n", "hex-upper": "  " + SECRET_HEX.upper() + "  \n",
            "nsec": nsec_of(SECRET_HEX) + "\n", "nsec-upper": nsec_of(SECRET_HEX).upper() + "\n"}[form]
    key = write_key(workdir, text)
    d = daemon_factory()
    d.write_config(daemon={"key": key})
    d.start()
    r = ctl("sign", "--kind", "1", "--content", "hello \u2028 \x01 world", "--tag", "t=relaypool",
            "--tag", '["e","' + "ab" * 32 + '","wss://r.example","reply"]', "--created-at", "1700000000",
            socket_path=d.socket)
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout)
    assert ev["pubkey"] == PUBKEY_HEX
    assert ev["created_at"] == 1700000000 and ev["kind"] == 1
    assert ev["tags"] == [["t", "relaypool"], ["e", "ab" * 32, "wss://r.example", "reply"]]
    assert nostr_tools_verify(ev)
    assert json.loads(ctl("--json", "status", socket_path=d.socket).stdout)["result"]["pubkey"] == PUBKEY_HEX
    v = ctl("verify", "-", input=r.stdout)
    assert v.returncode == 0 and v.stdout == f"ok {ev['id']}\n"
    # The secret never shows up anywhere the daemon writes.
    for secret in (SECRET_HEX, SECRET_HEX.upper(), nsec_of(SECRET_HEX)):
        assert secret not in d.logtext()
        assert secret not in ctl("--json", "status", socket_path=d.socket).stdout
        assert secret not in subprocess.run([RELAYPOOLD, "-c", d.config, "--print-config"], capture_output=True,
                                            text=True).stdout
    assert d.stop() == 0


def test_sign_stream_and_npub_tags(daemon_factory, workdir):
    d = daemon_factory()
    d.write_config(daemon={"key": write_key(workdir, SECRET_HEX)})
    d.start()
    templates = "\n".join(json.dumps({"kind": 7, "content": str(i)}) for i in range(20)) + "\n"
    r = ctl("sign", "-", input=templates, socket_path=d.socket)
    assert r.returncode == 0, r.stderr
    events = [json.loads(x) for x in r.stdout.splitlines()]
    assert [e["content"] for e in events] == [str(i) for i in range(20)]
    assert len({e["id"] for e in events}) == 20
    npub = subprocess.run([NODE, "-e", "const {nip19}=require(process.argv[1]);console.log(nip19.npubEncode(process.argv[2]))",
                           os.path.join(RELAY_DIR, "node_modules", "nostr-tools"), PUBKEY_HEX],
                          capture_output=True, text=True, check=True).stdout.strip()
    r = ctl("sign", "-k", "1", "-t", "p=" + npub, socket_path=d.socket)
    assert json.loads(r.stdout)["tags"] == [["p", PUBKEY_HEX]]
    # BIP-173: all upper case is the same key; a malformed npub is an error, not signed as text.
    r = ctl("sign", "-k", "1", "-t", "p=" + npub.upper(), socket_path=d.socket)
    assert r.returncode == 0 and json.loads(r.stdout)["tags"] == [["p", PUBKEY_HEX]], r.stderr
    r = ctl("sign", "-k", "1", "-t", "p=npub1garbage", socket_path=d.socket)
    assert r.returncode == 2 and r.stdout == ""
    # query takes an upper-case NPUB too.
    r = ctl("query", json.dumps({"authors": [npub.upper()]}), socket_path=d.socket)
    assert r.returncode == 0, r.stderr
    assert d.stop() == 0


def test_sign_errors(daemon_factory, workdir):
    d = daemon_factory()
    d.write_config()
    d.start()
    r = ctl("sign", "--kind", "1", socket_path=d.socket)
    assert r.returncode == 1 and "no_key" in r.stderr
    d.stop()
    d.write_config(daemon={"key": write_key(workdir, SECRET_HEX)})
    d.start()
    reply = d.request({"id": 1, "op": "sign", "event": {"kind": 70000}})
    assert reply["error"]["code"] == "invalid_event" and reply["error"]["reason"] == "invalid_kind"
    reply = d.request({"id": 2, "op": "sign", "event": {"kind": 1, "created_at": 1.5}})
    assert reply["error"]["reason"] == "invalid_created_at"
    reply = d.request({"id": 3, "op": "sign", "event": {"kind": 1, "pubkey": "x"}})
    assert reply["error"]["reason"] == "unknown_field"
    assert d.request({"id": 4, "op": "sign"})["error"]["code"] == "missing_field"
    assert d.request({"id": 5, "op": "sign", "event": "x"})["error"]["code"] == "invalid_field"
    r = ctl("sign", "-", input='{"kind": 1, "tags": [["", "x"]]}\n', socket_path=d.socket)
    assert r.returncode == 1 and "invalid_tags" not in r.stdout and "tags[0][0]" in r.stderr
    assert ctl("sign", "--kind", "x", socket_path=d.socket).returncode == 2
    assert ctl("sign", "--content", "no kind", socket_path=d.socket).returncode == 2
    assert ctl("sign", "--tag", "novalue", "-k", "1", socket_path=d.socket).returncode == 2
    assert d.stop() == 0


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_daemon_refuses_a_key_others_can_read(daemon_factory, workdir, mode):
    key = write_key(workdir, SECRET_HEX, mode)
    d = daemon_factory()
    d.write_config(daemon={"key": key})
    for args in ([], ["--check-config"]):
        r = subprocess.run([RELAYPOOLD, "-c", d.config, *args], capture_output=True, text=True, timeout=20)
        assert r.returncode == 1
        assert f"{key}: the key file is accessible by group or others (mode {mode:04o}); run chmod 600" in r.stderr
        assert SECRET_HEX not in r.stderr


@pytest.mark.parametrize("content,why", [
    ("", "must hold 64 hex characters or an nsec1"),
    ("abc", "must hold 64 hex characters or an nsec1"),
    ("0" * 64, "invalid secp256k1 secret key"),
    ("f" * 64, "invalid secp256k1 secret key"),
    ("nsec1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqxxxxxx", "the nsec in the key file is invalid"),
])
def test_daemon_refuses_a_bad_key(daemon_factory, workdir, content, why):
    d = daemon_factory()
    d.write_config(daemon={"key": write_key(workdir, content)})
    r = subprocess.run([RELAYPOOLD, "-c", d.config], capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert why in r.stderr
    assert not os.path.exists(d.socket)


def test_missing_key_file(daemon_factory, workdir):
    d = daemon_factory()
    d.write_config(daemon={"key": os.path.join(workdir, "nope")})
    r = subprocess.run([RELAYPOOLD, "-c", d.config, "--check-config"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 1 and "cannot open the key file" in r.stderr
