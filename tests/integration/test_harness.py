"""The harness itself: the real relay starts on a port of its own, answers NIP-11, and a
daemon configured with it comes up, reports it, and stops cleanly with it."""

import json
import urllib.request

from conftest import ctl


def test_relay_and_daemon_per_test(relay, daemon_factory):
    req = urllib.request.Request(f"http://127.0.0.1:{relay.port}/",
                                 headers={"Accept": "application/nostr+json"})
    info = json.load(urllib.request.urlopen(req, timeout=10))
    assert 1 in info["supported_nips"]
    d = daemon_factory()
    d.write_config(relays={"local": relay.url}, groups={"g": {"relays": "local", "filter": {"kinds": [1]}}})
    d.start()
    r = ctl("--json", "status", socket_path=d.socket)
    assert r.returncode == 0, r.stderr
    status = json.loads(r.stdout)["result"]
    assert status["relays"][0]["url"] == relay.url + "/"
    assert d.stop() == 0


def test_two_relays_get_distinct_ports(relay_factory):
    a = relay_factory("a").start()
    b = relay_factory("b").start()
    assert a.port != b.port
