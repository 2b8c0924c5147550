"""Commit messages and trailers, and the status rows: the pure parts `status` and `undo` rely on."""

from __future__ import annotations

import json

import click
import pytest

from kubectl_gitops.promote import messages
from kubectl_gitops.promote.edit import load_plain
from kubectl_gitops.promote.images import ImageEntry
from kubectl_gitops.promote.layout import Target
from kubectl_gitops.promote.output import Console
from kubectl_gitops.promote.pins import Kind, Pin, PinFile
from kubectl_gitops.promote.plan import Change, FileEdit, PinnedFile, formats, pin_changes
from kubectl_gitops.promote.status import Status, build_rows, render_json, render_table

API, WEB = "r/api", "r/web"


def edit(service: str, *changes: tuple[ImageEntry | None, ImageEntry | None]) -> FileEdit:
    path = f"services/{service}/overlays/prod/kustomization.yaml"
    return FileEdit(path, "", "", tuple(Change(service, path, old, new) for old, new in changes))


def test_promotion_message_round_trips_through_its_trailers() -> None:
    edits = [edit("api", (ImageEntry(API, None, "1.0"), ImageEntry(API, None, "1.1")),
                  (None, ImageEntry("r/api-migrate", None, "1.1"))),
             edit("web", (ImageEntry(WEB, None, "1.0"), ImageEntry(WEB, None, "1.0.1")))]
    text = messages.promotion("staging", "prod", edits)
    assert text == (
        "promote staging → prod: api 1.1, web 1.0.1\n\n"
        "services/api/overlays/prod/kustomization.yaml:\n"
        "  r/api: 1.0 → 1.1\n"
        "  r/api-migrate: (none) → 1.1\n"
        "services/web/overlays/prod/kustomization.yaml:\n"
        "  r/web: 1.0 → 1.0.1\n\n"
        "Promoted-From: staging\nPromoted-To: prod\n"
        "Image: r/api:1.1\nImage: r/api-migrate:1.1\nImage: r/web:1.0.1\n")
    record = messages.read_record(text)
    assert record == messages.Record("prod", "staging", None, ("r/api:1.1", "r/api-migrate:1.1", "r/web:1.0.1"))
    assert record.kind == "promote"


def test_distinct_versions_of_one_service_are_all_in_the_subject() -> None:
    edits = [edit("api", (None, ImageEntry(API, None, "2.0")), (None, ImageEntry("r/api-db", None, "1.9")))]
    assert messages.set_image("dev", edits).startswith("set-image dev: api 2.0/1.9\n")


def test_undo_message() -> None:
    edits = [edit("api", (ImageEntry(API, None, "1.1"), ImageEntry(API, None, "1.0")),
                  (ImageEntry("r/new", None, "1"), None))]
    text = messages.undo("prod", "c0ffee", "promote staging → prod: api 1.1", edits)
    assert text.startswith('Revert "promote staging → prod: api 1.1"\n\nThis reverts commit c0ffee.\n\n')
    assert "  r/new: 1 → (removed)\n" in text
    record = messages.read_record(text)
    assert record is not None
    assert (record.kind, record.reverts, record.images) == ("undo", "c0ffee", ("r/api:1.0",))


def test_trailers_only_from_a_last_paragraph_of_trailers() -> None:
    assert messages.read_record("Promoted-To: prod\n") is None  # a subject is not a trailer block
    assert messages.read_record("fix\n\nPromoted-To: prod\nnot a trailer\n") is None
    assert messages.read_record("fix\n\nPromoted-To: prod\n\nmore text\n") is None
    assert messages.trailers("fix\n\nbody\n\nA: 1\nB-c: x: y\n") == [("A", "1"), ("B-c", "x: y")]


def pinned(service: str, env: str, text: str, kind: Kind = Kind.IMAGE, path: str = "k.yaml") -> PinnedFile:
    file = PinFile(path, kind)
    return PinnedFile.parse(Target(service, env, (file,)), file, formats(("image",))[kind], text.encode())


def test_image_changes_between_two_versions() -> None:
    before = "images:\n  - name: a\n    newTag: '1'\n  - name: b\n    newTag: '1'\n"
    after = "images:\n  - name: a\n    newTag: '2'\n  - name: c\n    newTag: '1'\n"
    assert pin_changes(pinned("api", "prod", before), after) == (
        Change("api", "k.yaml", ImageEntry("a", None, "1"), ImageEntry("a", None, "2")),
        Change("api", "k.yaml", ImageEntry("b", None, "1"), None),
        Change("api", "k.yaml", None, ImageEntry("c", None, "1")))


def overlay_images(service: str, env: str, *entries: Pin) -> PinnedFile:
    file = PinFile(f"{service}/{env}", Kind.IMAGE)
    return PinnedFile(Target(service, env, (file,)), file, formats(("image",))[Kind.IMAGE], "", load_plain("", ""),
                      entries)


def test_rows_mark_environments_behind_the_one_before() -> None:
    envs = ("dev", "staging", "prod")
    rows = build_rows(envs, [
        overlay_images("api", "dev", ImageEntry(API, None, "2"), ImageEntry("r/new", None, "1")),
        overlay_images("api", "staging", ImageEntry(API, None, "2")),
        overlay_images("api", "prod", ImageEntry(API, None, "1")),
        overlay_images("web", "prod", ImageEntry(WEB, None, "1")),  # web has only prod: nothing before it
    ])
    assert [(r.service, r.image, [c.behind for c in r.cells]) for r in rows] == [
        ("api", API, [False, False, True]),
        ("api", "r/new", [False, True, False]),  # missing in staging: promoting would add it
        ("web", WEB, [False, False, False]),
    ]
    table = render_table(Status(envs, rows, (), "services|apps/<svc>/overlays/<env>"))
    assert "\x1b[33m- *\x1b[0m" in table  # click.echo drops the colour when it is off
    assert click.unstyle(table).splitlines()[2].split() == ["api", "r/new", "1", "-", "*", "-"]
    assert table.endswith("\n\nlayout: services|apps/<svc>/overlays/<env>")
    data = json.loads(render_json(Status(envs, rows, (), "x")))
    assert data["layout"] == "x"
    assert data["services"][0]["kind"] == "image"
    assert data["services"][1]["environments"]["staging"] is None
    assert data["lastChanges"] == {}


def test_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert Console.from_env().color is False
    monkeypatch.setenv("NO_COLOR", "")  # empty means unset (no-color.org)
    assert Console.from_env().color is None
