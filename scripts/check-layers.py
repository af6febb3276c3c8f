#!/usr/bin/python3
"""check-layers.py - the daemon's modules must depend on each other one way only.

A module is a file name without its extension (relay.c and relay.h are module "relay"); a
private header x_impl.h (the inside of an opaque struct, shared by x.c and a reader such as
x_view.c) belongs to module x.
Module A depends on B when a file of A includes B's header. Since every function is
declared in its module's header and the build rejects implicit declarations, a call from
A to B needs that include: no include cycle means no call cycle. Lower layers reach upper
ones only through callbacks the upper layer registers (session_ops, relay_owner_ops,
request_sink, ...), which no include shows - as intended.

Also checks that no source file in daemon/, ctl/ or common/ is longer than 900 lines.

Usage: scripts/check-layers.py [--print]   (--print: the layers, bottom first)
Exit 0 when both hold, 1 otherwise (with the cycle or the file named).
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINES = 900
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(filename):
    m = filename.rsplit(".", 1)[0]
    return m[:-5] if filename.endswith("_impl.h") else m


def modules(directory):
    """{module: set of modules it includes} for the .c/.h files of one directory."""
    deps, names = {}, set()
    files = [f for f in os.listdir(directory) if f.endswith((".c", ".h"))]
    for f in files:
        names.add(module_of(f))
    for f in files:
        m = module_of(f)
        with open(os.path.join(directory, f)) as fh:
            for inc in INCLUDE.findall(fh.read()):
                other = module_of(os.path.basename(inc))
                if other in names and other != m:
                    deps.setdefault(m, set()).add(other)
        deps.setdefault(m, set())
    return deps


def cycles(deps):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(deps[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(deps):
        if v not in index:
            visit(v)
    return out


def layers(deps):
    """Layer of a module: 0 for a leaf, else 1 + the highest layer it depends on."""
    memo = {}

    def layer(m):
        if m not in memo:
            memo[m] = 0
            memo[m] = 1 + max((layer(d) for d in deps[m]), default=-1)
        return memo[m]

    by = {}
    for m in deps:
        by.setdefault(layer(m), []).append(m)
    return [sorted(by[k]) for k in sorted(by)]


def long_files():
    bad = []
    for d in ("daemon", "ctl", "common"):
        for f in sorted(os.listdir(os.path.join(ROOT, d))):
            if f.endswith((".c", ".h")):
                with open(os.path.join(ROOT, d, f)) as fh:
                    n = sum(1 for _ in fh)
                if n > MAX_LINES:
                    bad.append(f"{d}/{f}: {n} lines (more than {MAX_LINES})")
    return bad


def main():
    ok = True
    deps = modules(os.path.join(ROOT, "daemon"))
    for comp in cycles(deps):
        ok = False
        print("include cycle among daemon/ modules: " + " -> ".join(comp))
        for m in comp:
            print(f"  {m} includes " + ", ".join(sorted(deps[m] & set(comp))))
    for line in long_files():
        ok = False
        print(line)
    if ok and "--print" in sys.argv:
        for i, layer in enumerate(layers(deps)):
            print(f"layer {i}: " + " ".join(layer))
    if ok:
        print(f"{len(deps)} daemon modules, no include cycle; no file over {MAX_LINES} lines")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
