"""relaypoold.conf: golden files for --print-config (and its round trip), one bad file per
error class for --check-config, checked through the real binary."""

import glob
import os
import subprocess

import pytest

from conftest import DATA_DIR, RELAYPOOLD

GOOD = sorted(glob.glob(os.path.join(DATA_DIR, "config", "good", "*.conf")))
BAD = sorted(glob.glob(os.path.join(DATA_DIR, "config", "bad", "*.conf")))


def run(*args):
    return subprocess.run([RELAYPOOLD, *args], capture_output=True, text=True, timeout=30)


def test_data_present():
    assert len(GOOD) >= 3 and len(BAD) >= 30


@pytest.mark.parametrize("path", GOOD, ids=os.path.basename)
def test_print_config_golden_and_round_trip(path, tmp_path):
    with open(path[:-len(".conf")] + ".expected") as f:
        expected = f.read()
    check = run("-c", path, "--check-config")
    if "\nkey = " in expected:
        # --check-config also loads the key file, which these golden paths do not have.
        assert check.returncode == 1 and "cannot open the key file" in check.stderr
    else:
        assert check.returncode == 0, check.stderr
        assert "configuration OK" in check.stdout
    printed = run("-c", path, "--print-config")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == expected
    # The normalized output parses back to the same configuration.
    again = tmp_path / "again.conf"
    again.write_text(printed.stdout)
    reprinted = run("-c", str(again), "--print-config")
    assert reprinted.returncode == 0, reprinted.stderr
    assert reprinted.stdout == expected


@pytest.mark.parametrize("path", BAD, ids=os.path.basename)
def test_check_config_errors(path):
    with open(path[:-len(".conf")] + ".err") as f:
        expected = f.read().replace("{path}", path)
    r = run("-c", path, "--check-config")
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == expected
    # A bad file never starts a daemon either.
    r = run("-c", path)
    assert r.returncode == 1
    assert expected.splitlines()[0] in r.stderr


def test_missing_file(tmp_path):
    r = run("-c", str(tmp_path / "nope.conf"), "--check-config")
    assert r.returncode == 1
    assert "nope.conf: cannot open: No such file or directory" in r.stderr


def test_print_config_hides_nothing_secret(tmp_path):
    key = tmp_path / "key"
    key.write_text("nsec1notreallyasecretbutneverprinted\n")
    conf = tmp_path / "c.conf"
    conf.write_text(f"[daemon]\nkey = {key}\n")
    r = run("-c", str(conf), "--print-config")
    assert r.returncode == 0
    assert f"key = {key}\n" in r.stdout
    assert "nsec1" not in r.stdout


def test_usage_errors():
    assert run("--bogus").returncode == 2
    assert run("extra-arg").returncode == 2
    r = run("--help")
    assert r.returncode == 0 and "--check-config" in r.stdout
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("relaypoold ")


def test_shipped_example_is_valid():
    example = os.path.join(DATA_DIR, "..", "..", "examples", "relaypoold.conf")
    r = run("-c", example, "--check-config")
    assert r.returncode == 0, r.stderr
