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
and then the scale case (issue 14), each against its own sim filled with large pages:
  * a cache of about 100,000 approvals (--big-changes) and one of about 600: process start
    to first frame from each, offline, side by side (target: 100k within 1.5x of 600, and
    under 50 ms);
  * the console's peak RSS (VmHWM) with the 100k cache at its first frame and after G, PgDn,
    g, Tab, f, Enter, Esc and j in a pty (target < 60 MB), and `queue --offline --output json`
    streaming all 100k rows (target < 60 MB);
  * a full sync at 100k and an incremental one after 1% changed (target < 10%);
  * one frame at 100k (examples/render_bench --store; target median < 2 ms, p99 < 4 ms).
Usage: python3 scripts/bench.py [--changes N] [--runs R] [--big-changes N] [--skip-small]
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
import threading
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

APPROVAL_FIELDS = ["sys_id", "state", "approver", "approver.time_zone", "sysapproval",
                   "document_id", "source_table", "group", "group.assignment_group", "due_date",
                   "approval_source", "sys_created_on", "sys_updated_on"]
TASK_FIELDS = ["number", "short_description", "impact", "urgency", "state",
               "assignment_group", "cmdb_ci", "business_service", "opened_by", "sys_updated_on"]
CHANGE_FIELDS = ["type", "risk", "requested_by", "start_date", "end_date", "on_hold", "category", "cab_required",
                 "cab_recommendation", "cmdb_ci.sys_class_name", "cmdb_ci.environment"]
# Left out of the full pull's pages and fetched after the queue, by approval sys_id.
LONG_TEXTS = ["description", "justification", "implementation_plan", "backout_plan",
              "test_plan", "risk_impact_analysis"]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--changes", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--big-changes", type=int, default=163000,
                    help="changes for the scale case (163,000 give about 100,000 approvals)")
    ap.add_argument("--latency-ms", type=int, default=50,
                    help="the time the instance takes to answer each request, for the "
                         "comparison with curl (a real instance takes tens to hundreds of ms)")
    ap.add_argument("--skip-small", action="store_true",
                    help="run only the scale case")
    args = ap.parse_args()

    sh(["cargo", "build", "--release", "--quiet", "--bin", "signoff", "--example", "render_bench"],
       cwd=ROOT)
    if not args.skip_small:
        pull_and_render(args)
        with_latency(args.changes, args.runs, args.latency_ms)
    scale(args.big_changes, args.runs)


def pull_and_render(args):
    home = tempfile.mkdtemp(prefix="signoff-bench-")
    env = dict(os.environ, SIGNOFF_HOME=home)
    sim, url = start_sim(args.changes, env)
    try:
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

        # signoff sync from an empty cache: when the queue was stored, and when its texts.
        usable, complete = [], []
        for _ in range(args.runs):
            fresh = tempfile.mkdtemp(prefix="signoff-bench-q-")
            r = subprocess.run([BIN, "sync", "-o", "json"], env=dict(qenv, SIGNOFF_HOME=fresh),
                               capture_output=True, text=True, check=True)
            report = json.loads(r.stdout)
            usable.append(report["queue_seconds"])
            complete.append(report["seconds"])
            shutil.rmtree(fresh)

        # The same pages with curl: the approvals query, every page, one keep-alive connection.
        keys = sorted(r["approval_sys_id"] for r in json.loads(out.stdout))
        keyed, texts, by_offset, _, slas = pages_for(url, keys, count)
        ctimes, ttimes = [], []
        for _ in range(args.runs):
            ctimes.append(curl_parallel(keyed + slas))
            ttimes.append(curl_parallel(texts))
        otimes = [curl_parallel(by_offset) for _ in range(args.runs)]

        q, c, o = statistics.median(times), statistics.median(ctimes), statistics.median(otimes)
        ct = statistics.median(c + t for c, t in zip(ctimes, ttimes))
        u, w = statistics.median(usable), statistics.median(complete)
        print(f"signoff queue --json: median {q*1000:.0f} ms over {args.runs} runs "
              f"(min {min(times)*1000:.0f} ms), peak RSS {max(rss)/1024:.1f} MB "
              f"(target < 60 MB)")
        check("peak RSS of queue --json < 60 MB", max(rss) / 1024 < 60)
        print(f"signoff sync from an empty cache: queue usable after median {u*1000:.0f} ms, "
              f"complete offline cache (long texts too) after {w*1000:.0f} ms")
        print(f"curl, the same {sum(map(len, keyed))} keyed pages, 4 ranges in parallel, gzip, "
              f"with {sum(map(len, slas))} task_sla pages 4 at a time alongside: "
              f"median {c*1000:.0f} ms (min {min(ctimes)*1000:.0f} ms); then the same "
              f"{sum(map(len, texts))} long-text pages, 4 at a time: {ct*1000:.0f} ms in all")
        print(f"ratio signoff/curl: queue usable {u/c:.2f}x, complete cache {w/ct:.2f}x, "
              f"queue --json {q/ct:.2f}x (target <= 1.0x)")
        # Informational: on loopback the sim answers at once and curl uses no CPU, so the sim
        # and signoff share the two cores and signoff's own work (decoding, SQLite) adds up.
        # The target is checked against an instance that takes time to answer (with_latency).
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


def with_latency(changes, runs, latency):
    """signoff's full pull against curl fetching the same pages with the same parallelism,
    from a sim that takes `latency` ms to answer each request, as an instance does."""
    env = dict(os.environ, SIGNOFF_HOME=tempfile.mkdtemp(prefix="signoff-bench-l-"))
    sim, url = start_sim(changes, env, "--latency-ms", str(latency))
    try:
        qenv = dict(env, SIGNOFF_INSTANCE=url, SIGNOFF_USER=USER, SIGNOFF_PASSWORD=PASSWORD)
        def pull():
            """One signoff sync from an empty cache: (seconds to usable, to complete, keys)."""
            fresh = tempfile.mkdtemp(prefix="signoff-bench-l-")
            fenv = dict(qenv, SIGNOFF_HOME=fresh)
            r = subprocess.run([BIN, "sync", "-o", "json"], env=fenv, capture_output=True,
                               text=True, check=True)
            report = json.loads(r.stdout)
            out = subprocess.run([BIN, "--offline", "queue", "--json"], env=fenv,
                                 capture_output=True, check=True)
            shutil.rmtree(fresh)
            keys = sorted(row["approval_sys_id"] for row in json.loads(out.stdout))
            return report["queue_seconds"], report["seconds"], keys

        # A first pull tells curl which pages to ask for; then signoff and curl take turns, so
        # a change in the machine's load weighs on both alike.
        _, _, keys = pull()
        keyed, texts, _, prelude, slas = pages_for(url, keys, len(keys))
        usable, complete, ctimes, ttimes = [], [], [], []
        for _ in range(runs):
            u, w, _ = pull()
            usable.append(u)
            complete.append(w)
            ctimes.append(prelude + curl_parallel(keyed + slas))
            ttimes.append(curl_parallel(texts))
    finally:
        sim.terminate()
        sim.wait()
    c = statistics.median(ctimes)
    ct = statistics.median(a + b for a, b in zip(ctimes, ttimes))
    u, w = statistics.median(usable), statistics.median(complete)
    print(f"with {latency} ms per answer, {len(keys)} approvals: signoff sync from an empty "
          f"cache: queue usable {u*1000:.0f} ms, complete {w*1000:.0f} ms; curl, the user and "
          f"delegation lookups ({prelude*1000:.0f} ms) and the same "
          f"{sum(map(len, keyed))} keyed pages (and {sum(map(len, slas))} task_sla pages alongside) {c*1000:.0f} ms, with the "
          f"{sum(map(len, texts))} long-text pages {ct*1000:.0f} ms; ratio signoff/curl: "
          f"queue usable {u/c:.2f}x, complete {w/ct:.2f}x (target <= 1.0x)")
    check("full pull no slower than curl with the same pages and parallelism", w / ct <= 1.0)


def start_sim(changes, env, *extra):
    """A sim on a free port; returns (process, url)."""
    sim = subprocess.Popen([BIN, "sim", "--port", "0", "--changes", str(changes), *extra],
                           stdout=subprocess.PIPE, text=True, env=env)
    for line in sim.stdout:
        m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if m:
            return sim, m.group(1)
    sim.kill()
    sys.exit("the sim did not print its URL")


def filled_cache(changes, page):
    """A fresh SIGNOFF_HOME synced from its own sim with `page`-row pages.
    Returns (env, sim, url, seconds the full pull took, its summary line)."""
    home = tempfile.mkdtemp(prefix="signoff-bench-c-")
    os.makedirs(os.path.join(home, "config"))
    with open(os.path.join(home, "config", "config.toml"), "w") as f:
        f.write(f"page_size = {page}\n")
    env = dict(os.environ, SIGNOFF_HOME=home)
    sim, url = start_sim(changes, env, "--page-cap", str(max(page, 100)))
    env.update(SIGNOFF_INSTANCE=url, SIGNOFF_USER=USER, SIGNOFF_PASSWORD=PASSWORD)
    t, text = timed([BIN, "sync", "-o", "table"], env)
    return env, sim, url, t, text


def vm_hwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def console_rss(env):
    """Runs the console offline in a 140x45 pty, waits for its first frame, then moves through
    the whole queue, filters and opens details; returns (MB at first frame, MB after, keys)."""
    log = os.path.join(env["SIGNOFF_HOME"], "state", "signoff.log")
    before = len(open(log).read()) if os.path.exists(log) else 0
    p, master = console_in_pty(["--offline"], env)
    threading.Thread(target=lambda: drain(master), daemon=True).start()
    deadline = time.time() + 30
    while "first frame drawn" not in open(log).read()[before:]:
        if time.time() > deadline or p.poll() is not None:
            p.kill()
            sys.exit("the console drew no first frame within 30 s")
        time.sleep(0.02)
    at_start = vm_hwm(p.pid)
    time.sleep(1.0)  # the rest of the queue streams in
    keys = (["G"] + ["\x1b[6~"] * 40 + ["g"] + ["\t"] * 4 + ["f"] * 3 + ["j"] * 20
            + ["\r", "\x1b[6~", "\x1b"] * 3 + ["G", "\r", "\x1b"])
    for k in keys:
        os.write(master, k.encode())
        time.sleep(0.03)
    time.sleep(0.5)
    after = vm_hwm(p.pid)
    os.write(master, b"q")
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        sys.exit("the console did not quit on q")
    return at_start, after, len(keys)


def console_in_pty(args, env):
    """signoff with `args` in a 140x45 pty; returns (process, the pty's master end)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 45, 140, 0, 0))
    p = subprocess.Popen([BIN, *args], env=env, stdin=slave, stdout=slave, stderr=slave,
                         close_fds=True)
    os.close(slave)
    return p, master


def drain(fd):
    """Reads the screen output until the pty closes, so the process never blocks on it."""
    while True:
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


def scale(big_changes, runs):
    print(f"scale: filling a cache from a sim of {big_changes} changes (pages of 2,000)")
    benv, bsim, burl, bfull, btext = filled_cache(big_changes, 2000)
    try:
        senv, ssim, _, _, _ = filled_cache(1000, 100)
        ssim.terminate()
        ssim.wait()
        print(f"full sync at scale: {bfull:.1f} s ({btext})")
        small = [first_frame(senv) for _ in range(runs)]
        big = [first_frame(benv) for _ in range(runs)]
        sm = statistics.median(f[0] for f in small)
        bm = statistics.median(f[0] for f in big)
        sw = statistics.median(f[2] for f in small)
        bw = statistics.median(f[2] for f in big)
        print(f"first frame, offline, 140x45, median of {runs}: {small[0][1]} approvals "
              f"{sm:.1f} ms (wall {sw*1000:.0f} ms), {big[0][1]} approvals {bm:.1f} ms "
              f"(wall {bw*1000:.0f} ms): {bm/sm:.2f}x logged, {bw/sw:.2f}x wall "
              f"(target <= 1.5x and < 50 ms)")
        check("first frame at 100k within 1.5x of ~600", bw / sw <= 1.5 and bm / sm <= 1.5)
        check("first frame at 100k < 50 ms", bm < 50)

        start, after, nkeys = console_rss(benv)
        print(f"console peak RSS with {big[0][1]} approvals: {start:.1f} MB at the first frame, "
              f"{after:.1f} MB after {nkeys} keys (G, PgDn, g, Tab, f, j, Enter, Esc) "
              f"(target < 60 MB)")
        check("console peak RSS at 100k < 60 MB", max(start, after) < 60)

        r = subprocess.run(["/usr/bin/time", "-f", "%M", BIN, "queue", "--offline", "--output",
                            "json"], env=benv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           check=True)
        n = len(json.loads(r.stdout))
        mb = int(r.stderr.decode().strip().splitlines()[-1]) / 1024
        print(f"queue --offline --output json: {n} rows, {len(r.stdout)/1e6:.0f} MB of JSON, "
              f"peak RSS {mb:.1f} MB (target < 60 MB)")
        check("queue --output json at 100k < 60 MB", mb < 60)

        ids = [row["approval_sys_id"] for row in json.loads(r.stdout)]
        chosen = ids[:: 100]
        touch(burl, chosen)
        t, text = timed([BIN, "sync", "-o", "table"], benv)
        print(f"incremental sync at scale after {len(chosen)} approvals (1%) changed: "
              f"{t*1000:.0f} ms = {100*t/bfull:.1f}% of the full pull (target < 10%) ({text})")
        check("incremental sync at 100k < 10% of a full pull", t / bfull < 0.10)
    finally:
        bsim.terminate()
        bsim.wait()
    store = os.path.join(benv["SIGNOFF_HOME"], "data", "default.sqlite3")
    if not os.path.exists(store):
        found = [os.path.join(d, f) for d, _, fs in os.walk(benv["SIGNOFF_HOME"])
                 for f in fs if f.endswith(".sqlite3")]
        store = found[0] if found else store
    r = subprocess.run([os.path.join(ROOT, "target", "release", "examples", "render_bench"),
                        "--store", store], capture_output=True, text=True, check=True)
    print(r.stdout.strip())
    m = re.search(r"median ([0-9.]+) ms, p99 ([0-9.]+) ms", r.stdout)
    check("frame at 100k median < 2 ms and p99 < 4 ms",
          bool(m) and float(m.group(1)) < 2 and float(m.group(2)) < 4)


def pages_for(url, keys, count):
    """The requests signoff makes for a full pull, for curl: the keyed pages over the four
    sys_id ranges, the long-text pages, and the same rows by offset (4 lists each); and how
    long the two requests before them took (who the user is, whose approvals she acts on),
    which signoff makes too."""
    started = time.perf_counter()
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
    prelude = time.perf_counter() - started
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
    # Then the long texts, 100 approvals a query, 4 queries at a time, as signoff asks.
    text_fields = ",".join(["sys_id"] + [f"sysapproval.{f}" for f in LONG_TEXTS])
    texts = [f"{url}/api/now/table/sysapproval_approver?" + urllib.parse.urlencode({
                 "sysparm_query": "sys_idIN" + ",".join(keys[i:i + 100]),
                 "sysparm_fields": text_fields, "sysparm_display_value": "all",
                 "sysparm_exclude_reference_link": "true", "sysparm_limit": str(page)})
             for i in range(0, len(keys), 100)]
    texts = [texts[i::4] for i in range(4)]
    # Alongside the queue's pages, the instance's SLAs on changes (task_sla), 1,000 a page by
    # offset, 4 at a time.
    sla_q = "active=true^task.sys_class_name=change_request^ORDERBYsys_id"
    sla_fields = ("sys_id,task,sla,stage,active,start_time,planned_end_time,has_breached,"
                  "business_time_left,business_percentage")
    head = subprocess.run(
        ["curl", "-sf", "-o", "/dev/null", "-D", "-", "-u", f"{USER}:{PASSWORD}",
         "-H", "Accept: application/json", f"{url}/api/now/table/task_sla?" +
         urllib.parse.urlencode({"sysparm_query": sla_q, "sysparm_fields": "sys_id",
                                 "sysparm_limit": "1"})],
        capture_output=True, check=True, text=True).stdout
    sla_count = next((int(line.split(":")[1]) for line in head.splitlines()
                      if line.lower().startswith("x-total-count:")), 0)
    sla_pages = [f"{url}/api/now/table/task_sla?" + urllib.parse.urlencode({
                     "sysparm_query": sla_q, "sysparm_fields": sla_fields,
                     "sysparm_display_value": "all", "sysparm_exclude_reference_link": "true",
                     "sysparm_limit": "1000", "sysparm_offset": str(off)})
                 for off in range(0, max(sla_count, 1), 1000)]
    slas = [sla_pages[i::4] for i in range(4)]
    # The same rows by offset, 4 pages at a time: what deep offsets cost.
    offsets = [page_url(base_q + "^ORDERBYsys_created_on^ORDERBYsys_id",
                        {"sysparm_offset": str(off)})
               for off in range(0, count + page, page)]
    by_offset = [offsets[i::4] for i in range(4)]
    return keyed, texts, by_offset, prelude, slas


def curl_parallel(lists):
    """Fetches each list of URLs with its own curl (one keep-alive connection), all at once."""
    t = time.perf_counter()
    procs = []
    for urls in filter(None, lists):
        cmd = ["curl", "-sf", "--compressed", "-u", f"{USER}:{PASSWORD}",
               "-H", "Accept: application/json"]
        for u in urls:
            cmd += ["-o", "/dev/null", u]
        procs.append(subprocess.Popen(cmd))
    for p in procs:
        if p.wait() != 0:
            sys.exit("curl failed")
    return time.perf_counter() - t


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
    t = time.perf_counter()
    p, master = console_in_pty(["--offline", "--exit-after-first-frame"], env)
    drain(master)
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
