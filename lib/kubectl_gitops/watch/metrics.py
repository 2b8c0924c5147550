"""Prometheus metrics of the loop (prometheus_client, the official client) and /healthz, served on
--metrics-addr from a thread of the standard library's HTTP server."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from kubectl_gitops.state import AppState
from kubectl_gitops.watch.webhook import listen


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.apps = Gauge("kubectl_gitops_apps", "Apps by sync status and health.", ["sync_status", "health"],
                          registry=r)
        self.syncs = Counter("kubectl_gitops_syncs", "Automated syncs by result.", ["app", "result"], registry=r)
        self.reconcile_seconds = Histogram("kubectl_gitops_reconcile_duration_seconds",
                                           "Time to compare every app with Git.", registry=r)
        self.sync_seconds = Histogram("kubectl_gitops_sync_duration_seconds", "Time of one automated sync.",
                                      ["app"], registry=r)
        self.reconnects = Counter("kubectl_gitops_watch_reconnects", "WATCH streams opened again.", ["resource"],
                                  registry=r)
        self.git_errors = Counter("kubectl_gitops_git_fetch_errors", "Reconciles that failed reading Git.",
                                  registry=r)
        self.reconcile_errors = Counter("kubectl_gitops_reconcile_errors", "Reconciles that failed.", registry=r)
        # Requests sent since the start, set after each reconcile: an idle loop adds no LIST and no write.
        self.lists = Gauge("kubectl_gitops_list_requests", "LISTs the live cache sent since the start.", registry=r)
        self.writes = Gauge("kubectl_gitops_write_requests", "Writes sent since the start (dry-runs not counted).",
                            registry=r)
        self.healthy = True

    def observe_reconcile(self, seconds: float, states: list[AppState], lists: int, writes: int) -> None:
        """After each reconcile: its time, the apps this replica reconciles, the requests sent so far."""
        self.reconcile_seconds.observe(seconds)
        self.lists.set(lists)
        self.writes.set(writes)
        counts: dict[tuple[str, str], int] = {}
        for st in states:
            # An app whose cluster did not answer was not compared: its status is not known.
            k = ("Unknown", "Unknown") if st.error else (str(st.sync_status), str(st.health or "Unknown"))
            counts[k] = counts.get(k, 0) + 1
        self.apps.clear()
        for (sync, health), n in counts.items():
            self.apps.labels(sync, health).set(n)


def serve(addr: str, metrics: Metrics) -> ThreadingHTTPServer:
    """GET /metrics and /healthz on HOST:PORT, in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                self._send(200 if metrics.healthy else 503, b"ok\n" if metrics.healthy else b"unhealthy\n",
                           "text/plain")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes are not events

    return listen(addr, "--metrics-addr", Handler)
