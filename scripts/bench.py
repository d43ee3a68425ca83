#!/usr/bin/env python3
"""signoff benchmark: queue fetch vs curl, frame render time, peak memory, start-up from the
cache, incremental sync.

Starts `signoff sim` with enough changes that the demo approver has at least 10,000 pending
approvals, then measures:
  * `signoff queue --json` from an empty cache (a full pull, stored, then printed): wall time
    (median of several runs, each in a fresh SIGNOFF_HOME) and peak RSS (GNU time);
  * curl fetching the very same pages signoff reads (by key, the four sys_id ranges in
    parallel, gzip) in the same run, and the same rows by offset four at a time (the sim
    charges deep offsets, 1 ms per 1,000 rows skipped, as a database does);
  * one frame of the queue rendered into a TestBackend (examples/render_bench.rs);
  * process start to the first frame drawn from a cache of all approvals, offline, in a pty
    (the figure signoff logs as "first frame drawn");
  * `signoff sync` as a full pull, and as an incremental sync after 1% of the approvals changed.
Usage: python3 scripts/bench.py [--changes N] [--runs R]
"""
import argparse
import base64
import fcntl
import http.client
import json
import os
import pty
import shutil
import struct
import termios
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "signoff")
USER, PASSWORD = "alice.moreno", "demo"

APPROVAL_FIELDS = ["sys_id", "state", "approver", "sysapproval", "document_id", "source_table",
                   "group", "group.assignment_group", "due_date", "sys_created_on",
                   "sys_updated_on"]
TASK_FIELDS = ["number", "short_description", "description", "impact", "urgency", "state",
               "assignment_group", "cmdb_ci", "opened_by", "sys_updated_on"]
CHANGE_FIELDS = ["type", "risk", "requested_by", "start_date", "end_date", "justification",
                 "implementation_plan", "backout_plan", "test_plan", "risk_impact_analysis",
                 "on_hold"]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--changes", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    sh(["cargo", "build", "--release", "--quiet", "--bin", "signoff", "--example", "render_bench"],
       cwd=ROOT)
    home = tempfile.mkdtemp(prefix="signoff-bench-")
    env = dict(os.environ, SIGNOFF_HOME=home)
    sim = subprocess.Popen([BIN, "sim", "--port", "0", "--changes", str(args.changes)],
                           stdout=subprocess.PIPE, text=True, env=env)
    try:
        url = None
        for line in sim.stdout:
            m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            if m:
                url = m.group(1)
                break
        if not url:
            sys.exit("the sim did not print its URL")

        qenv = dict(env, SIGNOFF_INSTANCE=url, SIGNOFF_USER=USER, SIGNOFF_PASSWORD=PASSWORD)
        out = subprocess.run([BIN, "queue", "--json"], env=qenv, capture_output=True, check=True)
        count = len(json.loads(out.stdout))
        print(f"sim: {args.changes} changes, {count} pending approvals for {USER} "
              "(her own and those of colleagues who delegated to her)")
        if count < 10000:
            print("warning: fewer than 10,000 approvals; raise --changes")

        # signoff queue --json from an empty cache, with peak memory from GNU time.
        times, rss = [], []
        for _ in range(args.runs):
            fresh = tempfile.mkdtemp(prefix="signoff-bench-q-")
            t = time.perf_counter()
            r = subprocess.run(["/usr/bin/time", "-f", "%M", BIN, "queue", "--json"],
                               env=dict(qenv, SIGNOFF_HOME=fresh),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               check=True)
            times.append(time.perf_counter() - t)
            rss.append(int(r.stderr.strip().splitlines()[-1]))
            shutil.rmtree(fresh)

        # The same pages with curl: the approvals query, every page, one keep-alive connection.
        uid = json.loads(subprocess.run(
            ["curl", "-sf", "-u", f"{USER}:{PASSWORD}", "-H", "Accept: application/json",
             f"{url}/api/now/table/sys_user?sysparm_query=user_name%3D{USER}&sysparm_fields=sys_id"],
            capture_output=True, check=True).stdout)["result"][0]["sys_id"]
        # Whose approvals signoff fetches: the user's and their active delegators'.
        deleg = json.loads(subprocess.run(
            ["curl", "-sf", "-u", f"{USER}:{PASSWORD}", "-H", "Accept: application/json",
             f"{url}/api/now/table/sys_user_delegate?" + urllib.parse.urlencode({
                 "sysparm_query": f"delegate={uid}^approvals=true"
                                  "^starts<=javascript:gs.nowDateTime()"
                                  "^ends>=javascript:gs.nowDateTime()",
                 "sysparm_fields": "user"})],
            capture_output=True, check=True).stdout)["result"]
        ids = ",".join([uid] + [d["user"]["value"] for d in deleg])
        approvers = f"approverIN{ids}^source_table=change_request"
        base_q = (f"{approvers}^state=requested^NQ{approvers}^state=not_required"
                  "^sysapproval.on_hold=true")
        fields = ",".join(APPROVAL_FIELDS + [f"sysapproval.{f}" for f in TASK_FIELDS + CHANGE_FIELDS])
        page = 100

        def page_url(q, extra):
            return f"{url}/api/now/table/sysapproval_approver?" + urllib.parse.urlencode(dict({
                "sysparm_query": q, "sysparm_fields": fields, "sysparm_display_value": "all",
                "sysparm_exclude_reference_link": "true", "sysparm_limit": str(page)}, **extra))

        # The pages signoff reads: by key, over the four sys_id ranges, in parallel.
        keys = sorted(r["approval_sys_id"] for r in json.loads(out.stdout))
        keyed = []
        for lo, hi in KEY_RANGES:
            ks = [k for k in keys if k >= lo and (hi is None or k < hi)]
            pages = []
            for p in range(0, max(len(ks), 1), page):
                conds = [f"sys_id>{ks[p-1]}"] if p else ([f"sys_id>={lo}"] if lo else [])
                if hi:
                    conds.append(f"sys_id<{hi}")
                pages.append(page_url(and_each(base_q, conds) + "^ORDERBYsys_id",
                                      {"sysparm_no_count": "true"}))
            keyed.append(pages)
        # The same rows by offset, 4 pages at a time: what deep offsets cost.
        offsets = [page_url(base_q + "^ORDERBYsys_created_on^ORDERBYsys_id",
                            {"sysparm_offset": str(off)})
                   for off in range(0, count + page, page)]
        by_offset = [offsets[i::4] for i in range(4)]

        def curl_parallel(lists):
            t = time.perf_counter()
            procs = []
            for urls in lists:
                cmd = ["curl", "-sf", "--compressed", "-u", f"{USER}:{PASSWORD}",
                       "-H", "Accept: application/json"]
                for u in urls:
                    cmd += ["-o", "/dev/null", u]
                procs.append(subprocess.Popen(cmd))
            for p in procs:
                if p.wait() != 0:
                    sys.exit("curl failed")
            return time.perf_counter() - t

        ctimes = [curl_parallel(keyed) for _ in range(args.runs)]
        otimes = [curl_parallel(by_offset) for _ in range(args.runs)]

        q, c, o = statistics.median(times), statistics.median(ctimes), statistics.median(otimes)
        print(f"signoff queue --json: median {q*1000:.0f} ms over {args.runs} runs "
              f"(min {min(times)*1000:.0f} ms), peak RSS {max(rss)/1024:.1f} MB "
              f"(target < 60 MB)")
        check("peak RSS of queue --json < 60 MB", max(rss) / 1024 < 60)
        print(f"curl, the same {sum(map(len, keyed))} keyed pages, 4 ranges in parallel, gzip: "
              f"median {c*1000:.0f} ms (min {min(ctimes)*1000:.0f} ms)")
        print(f"ratio signoff/curl: {q/c:.2f}x (target <= 1.0x)")
        check("full pull no slower than curl with the same pages and parallelism", q / c <= 1.0)
        print(f"the same rows by offset, 4 pages at a time, gzip: median {o*1000:.0f} ms "
              f"({o/c:.2f}x the keyed pages: the sim charges deep offsets as a database does)")

        sync_and_startup(url, qenv, json.loads(out.stdout), args.runs)
    finally:
        sim.terminate()
        sim.wait()

    # The render example reads the demo approver's own approvals: 30,000 changes give her
    # more than 10,000.
    r = subprocess.run([os.path.join(ROOT, "target", "release", "examples", "render_bench"),
                        "30000"], capture_output=True, text=True, check=True, env=env)
    print(r.stdout.strip())


KEY_RANGES = [("", "4"), ("4", "8"), ("8", "c"), ("c", None)]
MISSED = []


def check(what, ok):
    if not ok:
        MISSED.append(what)


def and_each(query, conds):
    """conds ANDed into every ^NQ branch, as signoff does."""
    if not conds:
        return query
    extra = "^".join(conds)
    return "^NQ".join(f"{b}^{extra}" if b else extra for b in query.split("^NQ"))


def timed(cmd, env):
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - t, r.stdout.strip()


def first_frame(env):
    """Runs the console offline in a pty until its first frame; returns (logged ms, wall s)."""
    log = os.path.join(env["SIGNOFF_HOME"], "state", "signoff.log")
    before = open(log).read() if os.path.exists(log) else ""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 45, 140, 0, 0))
    t = time.perf_counter()
    p = subprocess.Popen([BIN, "--offline", "--exit-after-first-frame"], env=env,
                         stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    while True:  # drain the screen output so the process never blocks on the pty
        try:
            if not os.read(master, 65536):
                break
        except OSError:
            break
    p.wait()
    wall = time.perf_counter() - t
    os.close(master)
    new = open(log).read()[len(before):]
    m = re.search(r'first frame drawn ms="?([0-9.]+)"? approvals=(\d+)', new)
    if not m:
        sys.exit(f"no first-frame line in the log:\n{new}")
    return float(m.group(1)), int(m.group(2)), wall


def touch(url, ids):
    """Changes approvals as the admin would (a comment bumps sys_updated_on)."""
    host = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(host.hostname, host.port)
    auth = base64.b64encode(b"admin:demo").decode()
    for i in ids:
        conn.request("PATCH", f"/api/now/table/sysapproval_approver/{i}?sysparm_fields=sys_id",
                     body=json.dumps({"comments": "benchmark touch"}),
                     headers={"Authorization": f"Basic {auth}", "Accept": "application/json",
                              "Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            sys.exit(f"PATCH {i} answered {r.status}")
    conn.close()


def sync_and_startup(url, qenv, rows, runs):
    home = tempfile.mkdtemp(prefix="signoff-bench-s-")
    env = dict(qenv, SIGNOFF_HOME=home)
    full = []
    for _ in range(3):
        shutil.rmtree(home)
        os.makedirs(home)
        t, text = timed([BIN, "sync", "-o", "table"], env)
        full.append(t)
    print(f"signoff sync, full pull of {len(rows)}: median {statistics.median(full)*1000:.0f} ms "
          f"({text})")

    frames = [first_frame(env) for _ in range(runs)]
    ms = [f[0] for f in frames]
    print(f"start to first frame from the cache ({frames[0][1]} approvals, offline, 140x45): "
          f"median {statistics.median(ms):.1f} ms, max {max(ms):.1f} ms (logged); "
          f"process wall incl. exit median {statistics.median(f[2] for f in frames)*1000:.0f} ms "
          f"(target < 50 ms)")
    check("first frame from the cache < 50 ms", statistics.median(ms) < 50)

    ids = [r["approval_sys_id"] for r in rows]
    step = max(1, len(ids) // max(1, len(ids) // 100))
    inc = []
    for k in range(3):
        chosen = ids[k::step][: len(ids) // 100]
        touch(url, chosen)
        t, text = timed([BIN, "sync", "-o", "table"], env)
        inc.append(t)
    f, i = statistics.median(full), statistics.median(inc)
    print(f"signoff sync, incremental after {len(chosen)} approvals (1%) changed: median "
          f"{i*1000:.0f} ms = {100*i/f:.1f}% of the full pull (target < 10%) ({text})")
    check("incremental sync < 10% of a full pull", i / f < 0.10)
    shutil.rmtree(home)


if __name__ == "__main__":
    main()
    if MISSED:
        print("MISSED: " + "; ".join(MISSED))
        sys.exit(1)
    print("every target met")
