#!/usr/bin/env python3
"""receiver.py - the demo's webhook receiver: Alertmanager POSTs each
notification here as JSON, and this prints it, one line per alert, the
moment it arrives.

    python3 src/tools/receiver.py [PORT]      (default 0: the kernel picks)

The first line names the port it got, "(port N)", the way logpipe does,
so src/tools/promlib.sh starts both the same way. It binds 127.0.0.1 only
and runs until SIGTERM or SIGINT.

Why Python and not the course's own HTTP server (lesson 08): that server
is a GET-only /metrics server by contract (a POST is answered 405, a body
is read and dropped), and the learner writes it; a receiver built on it
would need a second contract for request bodies and would stop working
whenever a learner's server does. Python's http.server is in Debian's
python3 and needs nothing else; the course's C stays the thing that is
scraped, this stays the thing that is told.
"""
import json
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

MAX_BODY = 1 << 20  # Alertmanager sends a few kB per group of alerts


def describe(alert):
    """One alert of a notification as one line."""
    labels = dict(alert.get("labels", {}))
    name = labels.pop("alertname", "?")
    labels.pop("severity", None)
    where = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    started = alert.get("startsAt", "?")[11:19]
    line = f"{alert.get('status', '?'):8} {name}{{{where}}} since {started}"
    if alert.get("status") == "resolved":
        line += f" until {alert.get('endsAt', '?')[11:19]}"
    return line


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0") or "0")
        if length <= 0 or length > MAX_BODY:
            self.send_error(400, "a JSON body of 1 byte to 1 MiB is expected")
            return
        try:
            note = json.loads(self.rfile.read(length))
            alerts = note["alerts"]
        except (ValueError, KeyError, TypeError) as e:
            self.send_error(400, f"not an Alertmanager notification: {e}")
            return
        now = time.strftime("%H:%M:%S", time.gmtime())
        print(f"{now} notification from Alertmanager ({note.get('status', '?')}, "
              f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''}, receiver {note.get('receiver', '?')}):",
              flush=True)
        for alert in alerts:
            print(f"           {describe(alert)}", flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        # The notifications are the output; the access log would hide them.
        pass


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    try:
        server = HTTPServer(("127.0.0.1", port), Handler)
    except OSError as e:
        print(f"receiver: cannot listen on 127.0.0.1:{port}: {e.strerror}", file=sys.stderr)
        return 1
    # SIGTERM ends the program the way Ctrl-C does: the socket is closed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"receiver: listening on 127.0.0.1 (port {server.server_address[1]}), UTC times", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
