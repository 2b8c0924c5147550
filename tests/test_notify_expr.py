"""The expr-lang evaluator: the catalog's trigger conditions, the operators users write, expr's nil
rules, and syntax errors with their column."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubectl_gitops.notify.expr import ExprSyntaxError, parse
from kubectl_gitops.notify.exprrun import ExprError, evaluate


def run(text: str, **variables: Any) -> Any:
    return evaluate(parse(text), variables)


def app(phase: str | None = "Succeeded", health: str = "Healthy", finished: str = "2024-05-01T10:00:00Z",
        health_since: str = "2024-05-01T10:00:05Z", revision: str = "abc") -> dict[str, Any]:
    status: dict[str, Any] = {"sync": {"status": "Synced", "revision": revision},
                              "health": {"status": health, "lastTransitionTime": health_since}}
    if phase:
        status["operationState"] = {"phase": phase, "finishedAt": finished, "syncResult": {"revision": revision}}
    return {"metadata": {"name": "guestbook", "labels": {"team": "a"}}, "status": status}


ON_DEPLOYED = ("app.status.operationState != nil and app.status.operationState.phase in ['Succeeded'] and "
               "app.status.health.status == 'Healthy' and !time.Parse(app.status.health.lastTransitionTime)"
               ".Before(time.Parse(app.status.operationState.finishedAt))")


@pytest.mark.parametrize(("doc", "expected"), [
    (app(), True),
    (app(health="Progressing"), False),
    (app(health_since="2024-05-01T09:59:59Z"), False),  # healthy since before the sync finished
    (app(phase=None), False),
    (app(phase="Failed"), False),
])
def test_catalog_on_deployed(doc: dict[str, Any], expected: bool) -> None:
    assert run(ON_DEPLOYED, app=doc) is expected


def test_catalog_conditions_and_once_per() -> None:
    assert run("app.status.operationState != nil and app.status.operationState.phase in ['Error', 'Failed']",
               app=app(phase="Error")) is True
    assert run("app.status.operationState.phase in ['Running']", app=app(phase="Running")) is True
    assert run("app.status.sync.status == 'Unknown'", app=app()) is False
    assert run("app.metadata.deletionTimestamp != nil", app=app()) is False
    assert run("app.status.operationState?.syncResult?.revision", app=app(revision="r1")) == "r1"
    assert run("app.status.operationState?.syncResult?.revision", app=app(phase=None)) is None
    assert run("true") is True


def test_nil_rules_of_expr() -> None:
    # a missing key is nil; fetching from nil is an error, unless the chain is optional
    assert run("app.status.nothing == nil", app=app()) is True
    assert run("unknownName == nil") is True
    with pytest.raises(ExprError, match="cannot fetch phase from <nil>"):
        run("app.status.operationState.phase == 'x'", app=app(phase=None))
    assert run("app.status.operationState?.phase ?? 'none'", app=app(phase=None)) == "none"
    assert run("app.status.a?.b.c.d", app=app()) is None
    # `and` short-circuits, so the catalog's nil guard works
    assert run("app.status.operationState != nil and app.status.operationState.phase == 'x'",
               app=app(phase=None)) is False


def test_operators() -> None:
    assert run("1 + 2 * 3 == 7 && !(2 > 3) || false") is True
    assert run("not (1 == 1)") is False
    assert run("'b' not in ['a', 'c']") is True
    assert run("'team' in app.metadata.labels", app=app()) is True
    assert run("app.metadata.labels['team']", app=app()) == "a"
    assert run("[1, 2, 3][-1]") == 3
    assert run("len(app.metadata.name) == 9 ? 'yes' : 'no'", app=app()) == "yes"
    assert run("1 == 1.0 and 2 <= 2.5 and 'a' < 'b'") is True
    assert run("7 / 2") == 3.5
    assert run("7 % 3") == 1
    assert run("'guest' + 'book' startsWith 'gue'") is True
    assert run("app.metadata.name matches '^g.*k$'", app=app()) is True
    assert run("any(['a', 'b'], {# == 'b'}) and all([1, 2], # > 0)") is True
    assert run("filter([{'k': 1}, {'k': 2}], .k > 1)") == [{"k": 2}]
    assert run("strings.ReplaceAll('a-b-c', '-', '_')") == "a_b_c"
    assert run("{'a': 1, b: 2}.b") == 2


def test_time_and_durations() -> None:
    recent = (datetime.now(UTC) - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run("time.Now().Sub(time.Parse(t)) < 5 * time.Minute", t=recent) is True
    assert run("time.Now().Sub(time.Parse(t)) > time.Minute", t=recent) is True
    assert run("time.Parse('2024-01-01T00:00:00Z').Add(90 * time.Second).After(time.Parse('2024-01-01T00:01:00Z'))")
    assert run("time.Parse('2024-01-01T00:00:00Z') < time.Parse('2024-01-01T00:00:01+00:00')") is True
    assert run("(time.Hour + 30 * time.Minute).String()") == "1h30m0s"
    assert run("time.Parse('2024-01-01T10:00:00Z').Sub(time.Parse('2024-01-01T09:00:00Z')).Hours()") == 1.0
    with pytest.raises(ExprError, match="cannot parse"):
        run("time.Parse('yesterday')")


def test_type_errors_are_evaluation_errors() -> None:
    with pytest.raises(ExprError, match="mismatched types string and int"):
        run("'a' < 1")
    with pytest.raises(ExprError, match="bool is needed"):
        run("1 and true")
    with pytest.raises(ExprError, match="unknown func"):
        run("nosuch(1)")


@pytest.mark.parametrize(("text", "column"), [
    ("app.status ==", 14),
    ("app.status.sync.status == 'Synced' and", 39),
    ("a b", 3),
    ("(1 + 2", 7),
    ("app.x == 'unterminated", 10),
    ("[1, 2", 6),
])
def test_syntax_errors_name_the_column(text: str, column: int) -> None:
    with pytest.raises(ExprSyntaxError) as e:
        parse(text)
    assert e.value.column == column
    assert f"column {column}" in str(e.value)
