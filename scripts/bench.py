#!/usr/bin/env python3
"""signoff benchmark: queue fetch vs curl, frame render time, peak memory.

Starts `signoff sim` with enough changes that the demo approver has at least 10,000 pending
approvals, then measures:
  * `signoff queue --json` wall time (median of several runs) and peak RSS (GNU time);
  * curl fetching the very same pages (one curl process, keep-alive, sequential) in the same run;
  * one frame of the queue rendered into a TestBackend (examples/render_bench.rs).
Usage: python3 scripts/bench.py [--changes N] [--runs R]
"""
import argparse
import json
import os
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
                   "group", "due_date", "sys_created_on", "sys_updated_on"]
TASK_FIELDS = ["number", "short_description", "description", "impact", "urgency", "state",
               "assignment_group", "cmdb_ci", "opened_by", "sys_updated_on"]
CHANGE_FIELDS = ["type", "risk", "requested_by", "start_date", "end_date", "justification",
                 "implementation_plan", "backout_plan", "test_plan", "risk_impact_analysis",
                 "on_hold"]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--changes", type=int, default=30000)
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
        print(f"sim: {args.changes} changes, {count} pending approvals for {USER}")
        if count < 10000:
            print("warning: fewer than 10,000 approvals; raise --changes")

        # signoff queue --json, with peak memory from GNU time.
        times, rss = [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            r = subprocess.run(["/usr/bin/time", "-f", "%M", BIN, "queue", "--json"], env=qenv,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               check=True)
            times.append(time.perf_counter() - t)
            rss.append(int(r.stderr.strip().splitlines()[-1]))

        # The same pages with curl: the approvals query, every page, one keep-alive connection.
        uid = json.loads(subprocess.run(
            ["curl", "-sf", "-u", f"{USER}:{PASSWORD}", "-H", "Accept: application/json",
             f"{url}/api/now/table/sys_user?sysparm_query=user_name%3D{USER}&sysparm_fields=sys_id"],
            capture_output=True, check=True).stdout)["result"][0]["sys_id"]
        fields = APPROVAL_FIELDS + [f"sysapproval.{f}" for f in TASK_FIELDS + CHANGE_FIELDS]
        page = 100
        urls = []
        for off in range(0, count + page, page):
            q = urllib.parse.urlencode({
                "sysparm_query": f"approverIN{uid}^state=requested^source_table=change_request"
                                 "^ORDERBYsys_created_on^ORDERBYsys_id",
                "sysparm_fields": ",".join(fields),
                "sysparm_display_value": "all",
                "sysparm_exclude_reference_link": "true",
                "sysparm_limit": str(page), "sysparm_offset": str(off)})
            urls.append(f"{url}/api/now/table/sysapproval_approver?{q}")
        curl_cmd = ["curl", "-sf", "-u", f"{USER}:{PASSWORD}", "-H", "Accept: application/json"]
        for u in urls:
            curl_cmd += ["-o", "/dev/null", u]
        ctimes = []
        for _ in range(args.runs):
            t = time.perf_counter()
            sh(curl_cmd)
            ctimes.append(time.perf_counter() - t)

        q, c = statistics.median(times), statistics.median(ctimes)
        print(f"signoff queue --json: median {q*1000:.0f} ms over {args.runs} runs "
              f"(min {min(times)*1000:.0f} ms), peak RSS {max(rss)/1024:.1f} MB")
        print(f"curl, same {len(urls)} pages: median {c*1000:.0f} ms "
              f"(min {min(ctimes)*1000:.0f} ms)")
        print(f"ratio signoff/curl: {q/c:.2f}x (target <= 1.5x)")
    finally:
        sim.terminate()
        sim.wait()

    r = subprocess.run([os.path.join(ROOT, "target", "release", "examples", "render_bench"),
                        str(args.changes)], capture_output=True, text=True, check=True, env=env)
    print(r.stdout.strip())


if __name__ == "__main__":
    main()
