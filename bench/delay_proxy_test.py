#!/usr/bin/python3
"""delay_proxy_test.py - checks and measures bench/delay_proxy with bench/proxy_probe:
  * --delay 20 gives a 40 ms round trip for a small request/response (p50 within 40-44 ms,
    never below 40 ms), also over 300 concurrent connections;
  * --jitter keeps byte order (a 32 MiB stream checked byte by byte) and never goes below
    delay - jitter;
  * bulk echo through --delay 0 against a direct connection: the proxy's throughput
    overhead (byte order and half-close checked by the probe);
  * a refused upstream closes the client's connection (no hang).
Prints a small table of figures.

Usage: delay_proxy_test.py BUILD_DIR [--mbytes M]     (exit 0 when every check passes)
"""
import json
import os
import socket
import subprocess
import sys


def start(argv):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    assert line and line[0] == "LISTENING", (argv, line)
    return p, int(line[1])


def stop(p):
    p.terminate()
    _, err = p.communicate(timeout=5)
    assert p.returncode == 0, (p.returncode, err)
    return err.strip()


def probe(build, *args):
    out = subprocess.run([os.path.join(build, "bench", "proxy_probe"), *args], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, (args, out.stderr)
    return json.loads(out.stdout)


def proxy(build, port, delay, jitter=0):
    return start([os.path.join(build, "bench", "delay_proxy"), "--listen", "0", "--to", "127.0.0.1:%d" % port,
                  "--delay", str(delay), "--jitter", str(jitter)])


def main():
    build = sys.argv[1]
    mbytes = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--mbytes" else "512"
    echo, eport = start([os.path.join(build, "bench", "proxy_probe"), "echo", "--port", "0"])
    p0, port0 = proxy(build, eport, 0)
    p20, port20 = proxy(build, eport, 20)
    pj, portj = proxy(build, eport, 20, 5)
    rows = []
    try:
        direct = probe(build, "rtt", "--to", "127.0.0.1:%d" % eport, "--count", "500")
        zero = probe(build, "rtt", "--to", "127.0.0.1:%d" % port0, "--count", "500")
        rows.append(("RTT direct, 64 B, p50", "%.3f ms" % direct["rtt_ms_p50"]))
        rows.append(("RTT via --delay 0, 64 B, p50", "%.3f ms" % zero["rtt_ms_p50"]))

        r = probe(build, "rtt", "--to", "127.0.0.1:%d" % port20, "--count", "50")
        assert r["rtt_ms_min"] >= 40.0 and 40.0 <= r["rtt_ms_p50"] <= 44.0, r
        rows.append(("RTT via --delay 20, 1 conn: min / p50 / p99",
                     "%.2f / %.2f / %.2f ms" % (r["rtt_ms_min"], r["rtt_ms_p50"], r["rtt_ms_p99"])))

        r = probe(build, "rtt", "--to", "127.0.0.1:%d" % port20, "--connections", "300", "--count", "10")
        assert r["rtt_ms_min"] >= 40.0 and r["rtt_ms_p50"] <= 50.0, r
        rows.append(("RTT via --delay 20, 300 conns: min / p50 / p99",
                     "%.2f / %.2f / %.2f ms" % (r["rtt_ms_min"], r["rtt_ms_p50"], r["rtt_ms_p99"])))

        r = probe(build, "rtt", "--to", "127.0.0.1:%d" % portj, "--count", "100", "--size", "4000")
        assert r["rtt_ms_min"] >= 30.0 and r["rtt_ms_max"] <= 60.0, r
        rows.append(("RTT via --delay 20 --jitter 5, 4000 B: min / p50 / max",
                     "%.2f / %.2f / %.2f ms" % (r["rtt_ms_min"], r["rtt_ms_p50"], r["rtt_ms_max"])))

        # Bulk data through jitter: the probe checks every byte's position.
        probe(build, "throughput", "--to", "127.0.0.1:%d" % portj, "--mbytes", "32")

        # Best of three each: the machine is shared.
        d = max(probe(build, "throughput", "--to", "127.0.0.1:%d" % eport, "--mbytes", mbytes)["mib_per_s"]
                for _ in range(3))
        z = max(probe(build, "throughput", "--to", "127.0.0.1:%d" % port0, "--mbytes", mbytes)["mib_per_s"]
                for _ in range(3))
        t = probe(build, "throughput", "--to", "127.0.0.1:%d" % port20, "--mbytes", "128")["mib_per_s"]
        rows.append(("bulk echo direct (best of 3)", "%.0f MiB/s" % d))
        rows.append(("bulk echo via --delay 0 (best of 3)", "%.0f MiB/s (%.0f%% of direct)" % (z, 100 * z / d)))
        rows.append(("bulk echo via --delay 20", "%.0f MiB/s" % t))

        # A refused upstream: the client sees its connection closed, the proxy survives.
        pr, portr = start([os.path.join(build, "bench", "delay_proxy"), "--listen", "0", "--to", "127.0.0.1:1",
                           "--delay", "5"])
        s = socket.create_connection(("127.0.0.1", portr), timeout=5)
        s.sendall(b"hello")
        try:
            assert s.recv(10) == b""
        except ConnectionResetError:
            pass
        s.close()
        assert "connect_failures=1" in stop(pr)
    finally:
        stats = [stop(p) for p in (p0, p20, pj)]
        stop(echo)
    for s in stats:
        assert "delay_proxy: connections=" in s, s
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print("%-*s  %s" % (width, k, v))
    print("delay_proxy_test: all checks passed")


if __name__ == "__main__":
    main()
