"""Real helm for the tests (built by `make helm` into the per-user cache) and a Helm chart repository
served on loopback: `helm package` output and `helm repo index`, behind a plain HTTP server that the
fixture starts and stops by PID."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import helm_bin_dir


@pytest.fixture(scope="session")
def helm() -> Path:
    """helm on PATH for the product and the tests; `make test` builds it (make helm)."""
    bin_dir = helm_bin_dir()
    if not (bin_dir / "helm").is_file():
        raise RuntimeError(f"no helm in {bin_dir}: run `make helm` (a prerequisite of `make test`)")
    os.environ["PATH"] = f"{bin_dir}:{os.environ['PATH']}"
    return bin_dir / "helm"


def write_chart(root: Path, name: str, version: str, templates: dict[str, str], values: str = "",
                extra: str = "") -> Path:
    d = root / name
    (d / "templates").mkdir(parents=True, exist_ok=True)
    (d / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n{textwrap.dedent(extra)}")
    (d / "values.yaml").write_text(textwrap.dedent(values))
    for rel, text in templates.items():
        (d / "templates" / rel).write_text(textwrap.dedent(text))
    return d


@dataclass
class ChartRepo:
    url: str
    dir: Path
    helm: Path
    log: Path

    def publish(self, chart_dir: Path) -> None:
        subprocess.run([str(self.helm), "package", str(chart_dir), "-d", str(self.dir)], check=True,
                       capture_output=True)
        subprocess.run([str(self.helm), "repo", "index", str(self.dir), "--url", self.url], check=True,
                       capture_output=True)

    def requests(self) -> list[str]:
        """The paths the server was asked for, in order (with ` authorized`/` refused` for a private one)."""
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        return [line.split('"')[1].split()[1] if '"GET ' in line else line for line in lines
                if '"GET ' in line or line.startswith("/")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chart_repo(helm: Path, tmp_path: Path) -> Iterator[ChartRepo]:
    port = _free_port()
    yield from _serve(helm, tmp_path / "chart-repo", port, [sys.executable, "-m", "http.server", str(port),
                                                            "--bind", "127.0.0.1", "--directory"])


PRIVATE_USER, PRIVATE_PASSWORD = "charts-reader", "s3cret-Pa55"


@pytest.fixture
def private_chart_repo(helm: Path, tmp_path: Path) -> Iterator[ChartRepo]:
    """A chart repository that serves PRIVATE_USER:PRIVATE_PASSWORD only (tests/chart_server.py)."""
    port = _free_port()
    served = tmp_path / "private-repo"
    yield from _serve(helm, served, port, [sys.executable, str(Path(__file__).parent / "chart_server.py")],
                      [str(port), PRIVATE_USER, PRIVATE_PASSWORD, str(tmp_path / "private-repo.requests")])


def _serve(helm: Path, served: Path, port: int, argv: list[str], after: list[str] | None = None
           ) -> Iterator[ChartRepo]:
    served.mkdir()
    log = served.with_suffix(".log")
    with log.open("w") as out:
        proc = subprocess.Popen([*argv, str(served), *(after or [])], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"chart repository did not start: {log.read_text()}") from None
                time.sleep(0.05)
        yield ChartRepo(f"http://127.0.0.1:{port}", served, helm, log if not after else Path(after[-1]))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
