"""Options shared by the commands: kubectl durations for --timeout."""

from __future__ import annotations

import pytest

from conftest import run_cli
from kubectl_gitops.cli.options import parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("5m", 300), ("1h30m", 5400), ("1.5h", 5400), ("250ms", 0.25), ("2m30s", 150),
    ("120", 120), ("0.5", 0.5), (" 10s ", 10),
])
def test_kubectl_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5 m", "m5", "5d", "1h30", "-5s", "5s!"])
def test_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_sync_rejects_a_bad_timeout_before_doing_anything() -> None:
    res = run_cli("kubectl-gitops", "sync", "--timeout", "soon")
    assert res.returncode == 2
    assert "'soon' is not a duration (e.g. 90s, 5m, 1h30m; a bare number is seconds)" in res.stderr
    res = run_cli("kubectl-gitops", "sync", "--timeout", "500ms")
    assert res.returncode == 2 and "'500ms' is shorter than 1s" in res.stderr
