#!/usr/bin/python3
"""ws_baseline.py - the raw WebSocket baseline: raw_ws_client against fast_relay directly and
through delay_proxy, plus fast_relay --verify. Prints markdown tables.

  direct:     C in (1, 4, 16) x W in (1, 64), N events (default 20000), median of 3 runs
  --delay 20: the same matrix through delay_proxy; slow cells send fewer events (about 10 s
              worth at the expected rate) and the table shows the expected C*W/RTT next to
              the measured rate
  --verify:   fast_relay parsing and verifying every event
  scale:      64 connections x W 64 with 10 N events

W = 1 figures measure the machine's process wakeup latency more than the tools: on a 2-CPU VM
a ping-pong across CPUs costs ~75 us, on one CPU ~11 us, so the scheduler's placement changes
C=1/W=1 by 6x. --pin puts the client on CPU 0 and the relay and proxy on CPU 1 (taskset) so
runs are comparable.

Usage: ws_baseline.py BUILD_DIR [--events N] [--delay MS] [--pin]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile


def start(argv):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    assert line and line[0] == "LISTENING", (argv, line, p.stderr.read() if p.poll() is not None else "")
    return p, int(line[1])


def stop(p):
    p.terminate()
    _, err = p.communicate(timeout=10)
    assert p.returncode == 0, (p.returncode, err)
    return err.strip()


class Bench:
    def __init__(self, build, events_file, pin):
        self.build = build
        self.events_file = events_file
        self.pin = pin

    def pinned(self, cpu, argv):
        return ["taskset", "-c", str(cpu), *argv] if self.pin else argv

    def tool(self, name):
        return os.path.join(self.build, "bench", name)

    def client(self, port, c, w, n):
        out = subprocess.run(self.pinned(0, [self.tool("raw_ws_client"), "--url", "ws://127.0.0.1:%d/" % port, "--connections",
                              str(c), "--window", str(w), "--events", self.events_file, "--count", str(n)]),
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        r = json.loads(out.stdout)
        assert r["ok_true"] == n and r["unanswered"] == 0, r
        return r

    def median(self, port, c, w, n, runs=3):
        rs = sorted((self.client(port, c, w, n) for _ in range(runs)), key=lambda r: r["events_per_s"])
        return rs[len(rs) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--delay", type=int, default=20)
    ap.add_argument("--pin", action="store_true")
    a = ap.parse_args()
    n = a.events
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "events.jsonl")
        b = Bench(a.build, path, a.pin)
        subprocess.run([b.tool("raw_ws_client"), "--gen-file", str(n * 10), path], check=True)

        relay, rport = start(b.pinned(1, [b.tool("fast_relay"), "--port", "0"]))
        print("### raw_ws_client -> fast_relay, direct (%d events, median of 3)\n" % n)
        print("| C | W | events/s | p50 latency | p99 latency |\n|---|---|---|---|---|")
        for c in (1, 4, 16):
            for w in (1, 64):
                r = b.median(rport, c, w, n)
                print("| %d | %d | %.0f | %.3f ms | %.3f ms |" % (c, w, r["events_per_s"], r["latency_ms_p50"],
                                                               r["latency_ms_p99"]))
        r = b.median(rport, 64, 64, n * 10, runs=1)
        print("| 64 | 64 | %.0f | %.3f ms | %.3f ms | (%d events)" % (r["events_per_s"], r["latency_ms_p50"],
                                                                     r["latency_ms_p99"], n * 10))

        proxy, pport = start(b.pinned(1, [b.tool("delay_proxy"), "--listen", "0", "--to", "127.0.0.1:%d" % rport,
                                           "--delay", str(a.delay)]))
        rtt = 2 * a.delay / 1000.0
        print("\n### through delay_proxy --delay %d (RTT %.0f ms)\n" % (a.delay, rtt * 1000))
        print("| C | W | events | expected C*W/RTT | measured events/s | ratio | p50 latency |\n"
              "|---|---|---|---|---|---|---|")
        for c in (1, 4, 16):
            for w in (1, 64):
                expected = c * w / rtt
                count = min(n, max(200, int(expected * 10)))
                r = b.client(pport, c, w, count)
                print("| %d | %d | %d | %.0f | %.0f | %.2f | %.1f ms |" % (
                    c, w, count, expected, r["events_per_s"], r["events_per_s"] / expected, r["latency_ms_p50"]))
        stop(proxy)
        print("\n%s" % stop(relay))

        relay, rport = start(b.pinned(1, [b.tool("fast_relay"), "--port", "0", "--verify"]))
        print("\n### fast_relay --verify (%d events, median of 3)\n" % n)
        print("| C | W | events/s | p50 latency |\n|---|---|---|---|")
        for c, w in ((1, 1), (1, 64), (4, 64), (16, 64)):
            r = b.median(rport, c, w, n)
            print("| %d | %d | %.0f | %.3f ms |" % (c, w, r["events_per_s"], r["latency_ms_p50"]))
        print("\n%s" % stop(relay))


if __name__ == "__main__":
    main()
