"""A loopback smart-HTTP git server for tests: `git http-backend` behind HTTP basic auth.

Run as `python git_http_server.py ROOT USER PASSWORD LOG`; it serves the repositories under ROOT on
127.0.0.1 at a free port, prints the port on stdout, and appends one JSON line per request to LOG
(method, path, the user name it authenticated, or null when no or wrong credentials came), so a test
sees what the server received. Repositories named `public-*` need no credentials.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class Handler(BaseHTTPRequestHandler):
    root, user, password, log = "", "", "", ""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        url = urlsplit(self.path)
        who = self._authenticated()
        with open(self.log, "a") as f:
            f.write(json.dumps({"method": self.command, "path": url.path, "user": who,
                                "authorization": "Authorization" in self.headers}) + "\n")
        if who is None and not url.path.startswith("/public-"):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {"GIT_PROJECT_ROOT": self.root, "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": url.path,
               "QUERY_STRING": url.query, "REQUEST_METHOD": self.command, "REMOTE_USER": who or "",
               "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
               "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""), "PATH": "/usr/bin:/bin"}
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        headers = [line.split(":", 1) for line in head.decode().split("\r\n") if ":" in line]
        status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
        self.send_response(status)
        for k, v in headers:
            if k.lower() != "status":
                self.send_header(k, v.strip())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _authenticated(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        return user if (user, password) == (self.user, self.password) else None

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    Handler.root, Handler.user, Handler.password, Handler.log = sys.argv[1:5]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
