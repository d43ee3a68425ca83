#!/usr/bin/env python3
"""A misbehaving "ServiceNow" for tests/hostile.rs, written apart from signoff's own sim so that
it shares none of its assumptions. It answers just enough of the Table API for a queue and a
decision, and misbehaves on every answer:

* every string it sends carries terminal escape sequences (OSC 52 clipboard writes, colours,
  8-bit CSI, bidi overrides, bells);
* lists claim ten million rows in X-Total-Count and always offer a next page in Link;
* its Date header is not a date;
* a write is answered with a redirect to another host;
* the change records answer 403 (a plain approver), so the queue is built from summaries;
* its CAB meeting, agenda and attendees carry the same escapes (in names, notes, numbers);
  creating a meeting is answered with a redirect to another host;
* its SLAs on the changes (task_sla) carry them in their names and stages, with a breach
  time that is not a time.

It prints its port on the first line of stdout, then one line per request ("METHOD path").
"""
import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EVIL = "\x1b]52;c;ZXZpbA==\x07\x1b[31m\x9b1m\u202e\x07"


def evil(s):
    return f"{s}{EVIL}"


def field(value, display=None):
    return {"value": value, "display_value": display if display is not None else value}


def approval(n):
    chg = f"c{n:031d}"
    return {
        "sys_id": field(f"a{n:031d}"),
        "state": field("requested", evil("Requested")),
        "approver": field("u0000000000000000000000000000001", evil("Eve Example")),
        "approver.time_zone": field(evil("Europe/Berlin"), evil("Europe/Berlin")),
        "sysapproval": field(chg, evil(f"CHG00{n:05d}")),
        "document_id": field(chg),
        "source_table": field("change_request"),
        "group": field(""),
        "group.assignment_group": field("", ""),
        "due_date": field(""),
        "sys_created_on": field("2026-11-25 10:00:00"),
        "sys_updated_on": field("2026-11-25 10:00:00"),
        "sysapproval.number": field(f"CHG00{n:05d}", evil(f"CHG00{n:05d}")),
        "sysapproval.short_description": field(evil("Patch the router"), evil("Patch the router")),
        "sysapproval.description": field(evil("Line one\nLine two")),
        "sysapproval.impact": field("2", evil("2 - Medium")),
        "sysapproval.urgency": field("2", evil("2 - Medium")),
        "sysapproval.state": field("-3", evil("Authorize")),
        "sysapproval.assignment_group": field("g1", evil("Network")),
        "sysapproval.cmdb_ci": field("ci1", evil("edge-router-1")),
        "sysapproval.opened_by": field("u2", evil("Mallory")),
        "sysapproval.sys_updated_on": field("2026-11-25 10:00:00"),
    }


ROWS = [approval(n) for n in range(1, 4)]
ORIGIN = "http://127.0.0.1"
EVE = "u0000000000000000000000000000001"
MEETING = "m0000000000000000000000000000001"
TEN_MINUTES = "1970-01-01 00:10:00"

CAB = {
    "cab_meeting": [{
        "sys_id": field(MEETING),
        "name": field(evil("Weekly CAB")),
        "state": field("in_progress", evil("In progress")),
        "start": field("2026-11-25 09:00:00"),
        "end": field("2026-11-25 10:00:00"),
        "actual_end": field(""),
        "manager": field(EVE, evil("Eve Example")),
        "delegates": field(""),
        "board_members": field(""),
        "meeting_notes": field(evil("<p>CHG0000001 notes: " + EVIL + "</p><script>x</script>")),
        "time_per_agenda_item": field(TEN_MINUTES),
        "complete_preapproved_changes": field("false"),
        "auto_add_agenda_decisions": field("true"),
        "agenda_locked": field("false"),
        "conference_details": field(evil("Bridge 555")),
        "sys_updated_on": field("2026-11-25 09:00:00"),
    }],
    "cab_agenda_item": [{
        "sys_id": field(f"i{n:031d}"),
        "cab_meeting": field(MEETING, evil("Weekly CAB")),
        "task": field(f"c{n:031d}", evil(f"CHG00{n:05d}")),
        "task.number": field(f"CHG00{n:05d}", evil(f"CHG00{n:05d}")),
        "order": field(str(n * 100)),
        "state": field("in_progress" if n == 1 else "pending", evil("state")),
        "decision": field("", ""),
        "alotted_time": field(TEN_MINUTES),
        "elapsed_time": field(""),
        "short_description": field(evil("Patch the router")),
        "sys_created_on": field("2026-11-25 08:00:00"),
        "sys_updated_on": field("2026-11-25 08:00:00"),
    } for n in range(1, 3)],
    "cab_attendee": [{
        "sys_id": field("t0000000000000000000000000000001"),
        "cab_meeting": field(MEETING, evil("Weekly CAB")),
        "attendee": field(EVE, evil("Eve Example")),
        "reason": field("cab_manager", evil("CAB manager")),
        "attendance": field("attending", evil("Attending")),
        "attending_for_tasks": field(""),
        "joined_at": field(evil("not a time")),
        "sys_created_on": field("2026-11-25 08:00:00"),
    }],
    "cab_runtime_state": [],
    "task_sla": [{
        "sys_id": field(f"s{n:031d}"),
        "task": field(f"c{n:031d}", evil(f"CHG00{n:05d}")),
        "sla": field("d1", evil("Approval response")),
        "stage": field("in_progress", evil("In progress")),
        "active": field("true"),
        "start_time": field("2026-11-25 10:00:00"),
        "planned_end_time": field("2026-11-25 18:00:00" if n == 1 else evil("soon")),
        "has_breached": field(evil("maybe")),
        "business_time_left": field(evil("1970")),
        "business_percentage": field(evil("NaN")),
    } for n in range(1, 3)],
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Date", "not a date at all")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def note(self):
        print(f"{self.command} {self.path}", flush=True)

    def do_GET(self):
        self.note()
        url = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        parts = url.path.rstrip("/").split("/")
        table = parts[4] if len(parts) > 4 else ""
        one = parts[5] if len(parts) > 5 else None
        if table == "sys_user":
            user = {"sys_id": field("u0000000000000000000000000000001"),
                    "user_name": field("eve"), "name": field(evil("Eve Example")),
                    "email": field(evil("eve@example.com"))}
            return self.send(200, json.dumps({"result": [user]}))
        if table == "sys_user_delegate":
            return self.send(200, json.dumps({"result": []}))
        if table == "change_request":
            return self.send(403, json.dumps({"error": {"message": evil("Insufficient rights"),
                                                        "detail": None}, "status": "failure"}))
        if table in CAB:
            rows = CAB[table]
            if one:
                row = next((r for r in rows if r["sys_id"]["value"] == one), None)
                if row is None:
                    return self.send(404, json.dumps({"error": {"message": "No Record found"}}))
                return self.send(200, json.dumps({"result": row}))
            offset = int(q.get("sysparm_offset", "0"))
            return self.send(200, json.dumps({"result": rows if offset == 0 else []}),
                             [("X-Total-Count", "10000000")])
        if table == "sysapproval_approver" and one:
            row = next((r for r in ROWS if r["sys_id"]["value"] == one), None)
            if row is None:
                return self.send(404, json.dumps({"error": {"message": "No Record found"}}))
            return self.send(200, json.dumps({"result": dict(row, comments=field(""))}))
        if table == "sysapproval_approver":
            offset = int(q.get("sysparm_offset", "0"))
            limit = int(q.get("sysparm_limit", "100"))
            rows = ROWS if offset == 0 else []
            if q.get("sysparm_fields") == "sys_id":
                rows = [{"sys_id": r["sys_id"]} for r in rows]
            nxt = dict(q, sysparm_offset=str(offset + limit))
            link = f'<{ORIGIN}:{self.server.server_port}{url.path}?{urllib.parse.urlencode(nxt)}>;rel="next"'
            return self.send(200, json.dumps({"result": rows}),
                             [("X-Total-Count", "10000000"), ("Link", link)])
        return self.send(400, json.dumps({"error": {"message": "Invalid table"}}))

    def do_POST(self):
        if urllib.parse.urlparse(self.path).path == "/oauth_token.do":
            return self.token()
        self.do_PATCH()

    def token(self):
        """The OAuth token endpoint, misbehaving by client_id: escapes in the refusal, an HTML
        page with 200, a token full of escapes that expires in the past, else a redirect."""
        self.note()
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        client = form.get("client_id", "")
        if client == "evil":
            return self.send(401, json.dumps({"error_description": evil("access_denied"),
                                              "error": evil("server_error")}))
        if client == "html":
            return self.send(200, "<html><body>Sign in " + EVIL + "</body></html>",
                             [("Content-Type", "text/html")])
        if client == "token":
            return self.send(200, json.dumps({"access_token": evil("tok"), "expires_in": "-5",
                                              "token_type": evil("Bearer")}))
        self.send_response(307)
        self.send_header("Location", "http://127.0.0.1:9/oauth_token.do")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PATCH(self):
        self.note()
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self.send_response(307)
        self.send_header("Location", "http://127.0.0.1:9/api/now/table/sysapproval_approver/x")
        self.send_header("Content-Length", "0")
        self.end_headers()


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
