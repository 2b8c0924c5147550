"""A Helm chart repository on loopback that wants HTTP basic auth: serves DIR on 127.0.0.1:PORT to
USER:PASSWORD only, and logs each request as `<path> <authorized|refused>` (never the credentials).

    python tests/chart_server.py DIR PORT USER PASSWORD LOG
"""

from __future__ import annotations

import base64
import functools
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


class Handler(SimpleHTTPRequestHandler):
    expected = ""
    log_path = ""

    def do_GET(self) -> None:
        ok = self.headers.get("Authorization", "") == self.expected
        with open(self.log_path, "a") as log:
            log.write(f"{self.path} {'authorized' if ok else 'refused'}\n")
        if not ok:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="charts"')
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


def main(directory: str, port: str, user: str, password: str, log: str) -> None:
    Handler.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    Handler.log_path = log
    server = ThreadingHTTPServer(("127.0.0.1", int(port)), functools.partial(Handler, directory=directory))
    server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:])
