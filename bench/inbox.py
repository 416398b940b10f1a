#!/usr/bin/env python3
"""Inbox and search latency at several workspace sizes (issue 8).

    python3 bench/inbox.py 100 10000 100000

For each size: a fresh host (target/release/ticketshare-host, SQLite store in a
temporary directory), one workspace, N tickets created through the API (8
keep-alive clients), then 200 sequential requests each of: the first page of
Pending (as a staff member), a Pending page further in (following cursors
five times), Resolved, a search for a rare word (about N/500 matches) and one
for a word every ticket has. Prints p50/p99 in ms and the large/small ratios.
Needs a release build (`cargo xtask build`).
"""
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "bench-admin-token-0123456789"


def start_host(state):
    p = subprocess.Popen(
        [os.path.join(ROOT, "target/release/ticketshare-host"), "up", "--from", os.path.join(ROOT, "spin.toml"),
         "--listen", "127.0.0.1:0", "--state-dir", state, "--wasm-cache-dir", os.path.join(ROOT, "target/test-compile-cache")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "SPIN_VARIABLE_ADMIN_TOKEN": TOKEN}, text=True)
    for line in p.stdout:
        if line.startswith("Serving http://"):
            host, port = line.split("http://")[1].strip().split(":")
            return p, host, int(port)
    raise SystemExit("host did not start")


class Client:
    def __init__(self, host, port, headers):
        self.c = http.client.HTTPConnection(host, port, timeout=60)
        self.h = headers

    def call(self, method, path, body=None):
        h = dict(self.h)
        data = None
        if body is not None:
            data = json.dumps(body)
            h["Content-Type"] = "application/json"
        self.c.request(method, path, body=data, headers=h)
        r = self.c.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else None)


def words(i):
    rare = f"w{i % 500:03d}x"
    return f"Order {i} parcel {rare}"


def run(n):
    state = tempfile.mkdtemp(prefix="ts-bench-inbox-")
    proc, host, port = start_host(state)
    try:
        admin = Client(host, port, {"Authorization": f"Bearer {TOKEN}"})
        s, v = admin.call("POST", "/api/v1/workspaces", {"id": "bench", "name": "Bench"})
        key = v["secret"]
        api = Client(host, port, {"Authorization": f"Bearer {key}"})
        _, c = api.call("PUT", "/api/v1/users", {"email": "cus@x.test", "name": "Cus", "role": "customer"})
        _, st = api.call("PUT", "/api/v1/users", {"email": "sam@x.test", "name": "Sam", "role": "staff"})
        cus, staff = c["user"]["id"], st["user"]["id"]
        t0 = time.time()
        lock = threading.Lock()
        nxt = [0]

        def worker():
            cl = Client(host, port, {"Authorization": f"Bearer {key}", "Ticketshare-Act-As": cus})
            while True:
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= n:
                    return
                s, _ = cl.call("POST", "/api/v1/tickets", {"subject": words(i), "body": "Where is my parcel?"})
                assert s == 201, s

        ts = [threading.Thread(target=worker) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        made = time.time() - t0
        # Resolve a few so Resolved has something.
        me = Client(host, port, {"Authorization": f"Bearer {key}", "Ticketshare-Act-As": staff})
        for no in range(1, min(n, 50) + 1):
            me.call("POST", f"/api/v1/tickets/{no}/resolve")
        s, first = me.call("GET", "/api/v1/inbox?view=pending&limit=25")
        cur = first["next_cursor"]
        for _ in range(4):
            if not cur:
                break
            _, pg = me.call("GET", "/api/v1/inbox?view=pending&limit=25&cursor=" + urllib.parse.quote(cur))
            cur = pg["next_cursor"]
        deep = "/api/v1/inbox?view=pending&limit=25" + ("&cursor=" + urllib.parse.quote(cur) if cur else "")
        cases = {
            "pending, first page": "/api/v1/inbox?view=pending&limit=25",
            "pending, 6th page": deep,
            "resolved, first page": "/api/v1/inbox?view=resolved&limit=25",
            "search, rare word": "/api/v1/search?q=w123x&limit=25",
            "search, word in every ticket": "/api/v1/search?q=parcel&limit=25",
        }
        out = {}
        for name, path in cases.items():
            times = []
            for _ in range(200):
                a = time.perf_counter()
                s, body = me.call("GET", path)
                times.append((time.perf_counter() - a) * 1000)
                assert s == 200, (s, body)
            times.sort()
            out[name] = (statistics.median(times), times[int(len(times) * 0.99) - 1], len(body["tickets"]))
        return made, out
    finally:
        proc.kill()
        proc.wait()


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [100, 10000]
    results = {}
    for n in sizes:
        made, out = run(n)
        results[n] = out
        print(f"\n{n} tickets (created in {made:.0f} s)")
        for name, (p50, p99, rows) in out.items():
            print(f"  {name:32} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  ({rows} rows)")
    small = sizes[0]
    for n in sizes[1:]:
        print(f"\n{n} / {small} tickets, p50 ratio:")
        for name in results[n]:
            print(f"  {name:32} {results[n][name][0] / results[small][name][0]:.2f}x")


main()
