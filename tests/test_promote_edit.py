"""The round-trip editor and the `images:` model: every byte but the changed values stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.promote import edit
from kubectl_gitops.promote.images import ImageEntry, KustomizeImages, matches, parse_spec, read_images

DIGEST = "sha256:" + "ab" * 32


def set_images(text: str, source: str, updates: list[ImageEntry]) -> str:
    """Each update's newName/newTag/digest set on the entry of that name, as a promotion does it."""
    fmt, docs, changes = KustomizeImages(), edit.load_plain(text, source), {}
    for new in updates:
        old = next((e for e in fmt.read(docs, source) if e.name == new.name), None)
        step = fmt.changes(docs, old, new)
        changes.update(step)
        docs = edit.apply_plain(docs, step)
    return edit.update(text, source, changes)
OVERLAYS = sorted((ROOT / "examples" / "platform-config" / "services").glob("*/overlays/*/kustomization.yaml"))


@pytest.mark.parametrize("path", OVERLAYS, ids=lambda p: "/".join(p.parts[-4:-1]))
def test_example_overlays_change_only_the_values(path: Path) -> None:
    text = path.read_text()
    first, second = (e.name for e in read_images(text, "x"))
    result = set_images(text, "x", [ImageEntry(first, None, "9.9.9"), ImageEntry(second, None, "9.9.9")])
    old_tag = read_images(text, "x")[0].new_tag
    assert result == text.replace(f'newTag: "{old_tag}"', 'newTag: "9.9.9"')


def test_no_change_is_byte_identical() -> None:
    text = OVERLAYS[0].read_text()
    assert set_images(text, "x", read_images(text, "x")) == text


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("images:\n- name: x\n  newTag: 1.0.0 # c\n", "images:\n- name: x\n  newTag: 2.0.0 # c\n",
                 id="sequence-at-parent-column"),
    pytest.param("resources:\n    - a.yaml\nimages:\n    - name: x\n      newTag: 1.0.0\n",
                 "resources:\n    - a.yaml\nimages:\n    - name: x\n      newTag: 2.0.0\n", id="four-spaces"),
    pytest.param("---\n# head\nimages:\n  - name: x\n    newTag: '1.0.0'\n...\n",
                 "---\n# head\nimages:\n  - name: x\n    newTag: '2.0.0'\n...\n", id="document-markers"),
    pytest.param('images:\r\n  - name: x\r\n    newTag: "1.0.0"\r\n',
                 'images:\r\n  - name: x\r\n    newTag: "2.0.0"\r\n', id="crlf"),
    pytest.param('images:\n  - name: x\n    newTag: "1.0.0"', 'images:\n  - name: x\n    newTag: "2.0.0"',
                 id="no-final-newline"),
    pytest.param("a: " + "word " * 40 + "\nimages:\n  - name: x\n    newTag: 1.0.0\n",
                 "a: " + "word " * 40 + "\nimages:\n  - name: x\n    newTag: 2.0.0\n", id="long-line-unwrapped"),
    pytest.param("images:\n  - name: x\n    newTag: 1.0.0\n  # trailing comment\n",
                 "images:\n  - name: x\n    newTag: 2.0.0\n  # trailing comment\n", id="comment-after"),
])
def test_formatting_styles_survive(text: str, expected: str) -> None:
    assert set_images(text, "x", [ImageEntry("x", None, "2.0.0")]) == expected


def test_adds_missing_entries_in_the_style_of_their_siblings() -> None:
    text = 'images:\n  - name: x\n    newTag: "1.0.0"  # pinned\nreplicas: []\n'
    result = set_images(text, "x", [ImageEntry("y", "mirror/y", "1.10", DIGEST)])
    assert result == ('images:\n  - name: x\n    newTag: "1.0.0"  # pinned\n'
                      f'  - name: y\n    newName: mirror/y\n    newTag: "1.10"\n    digest: {DIGEST}\nreplicas: []\n')


def test_adds_the_images_key_when_there_is_none() -> None:
    text = "resources:\n  - ../../base\n"
    assert set_images(text, "x", [ImageEntry("x", None, "1.0")]) == (
        "resources:\n  - ../../base\nimages:\n  - name: x\n    newTag: '1.0'\n")
    assert set_images("resources:\n  - a\nimages: []\n", "x", [ImageEntry("x", None, "v1")]) == (
        "resources:\n  - a\nimages:\n  - name: x\n    newTag: v1\n")


def test_removes_fields_the_new_pin_does_not_set() -> None:
    text = f"images:\n  - name: x\n    newName: mirror/x  # ours\n    newTag: 1.0.0\n    digest: {DIGEST}\n"
    assert set_images(text, "x", [ImageEntry("x", None, "2.0.0")]) == "images:\n  - name: x\n    newTag: 2.0.0\n"


def test_values_that_would_read_as_numbers_are_quoted() -> None:
    text = "images:\n  - name: x\n    newTag: v1\n"
    result = set_images(text, "x", [ImageEntry("x", None, "1.10")])
    assert result == "images:\n  - name: x\n    newTag: '1.10'\n"
    assert read_images(result, "x")[0].new_tag == "1.10"


def test_a_changed_value_keeps_its_spacing_anchor_and_comment() -> None:
    text = "images:\n  - name: x\n    newTag:     &v 1.0.0   # pinned\n  - name: y\n    newTag: *v\n"
    assert set_images(text, "k", [ImageEntry("x", None, "2.0.0"), ImageEntry("y", None, "2.0.0")]) == (
        "images:\n  - name: x\n    newTag:     &v 2.0.0   # pinned\n  - name: y\n    newTag: *v\n")
    # an alias that must now differ from its anchor gets its own value; the anchor stays in place
    assert set_images(text, "k", [ImageEntry("y", None, "3.0.0")]) == (
        "images:\n  - name: x\n    newTag:     &v 1.0.0   # pinned\n  - name: y\n    newTag: 3.0.0\n")
    assert set_images('a: &t "1"\nimages:\n  - name: x\n    newTag: "1"\n', "k",
                      [ImageEntry("x", None, "2")]) == 'a: &t "1"\nimages:\n  - name: x\n    newTag: "2"\n'


def test_refuses_rather_than_reformat_other_lines() -> None:
    text = "images: [{name: x, newTag: 1.0.0, digest: " + DIGEST + "}, {name: y,\n  newTag: 1.0.0}]\n"
    with pytest.raises(GitopsError, match="cannot make this change without also reformatting other lines"):
        set_images(text, "services/x/kustomization.yaml", [ImageEntry("x", None, "2.0.0")])


def test_invalid_yaml_names_the_file() -> None:
    with pytest.raises(GitopsError, match=r"^o/kustomization.yaml: invalid YAML"):
        set_images("images: [\n", "o/kustomization.yaml", [ImageEntry("x", None, "1")])


# --- images ---------------------------------------------------------------------------------------------


def test_read_images_keeps_values_as_written() -> None:
    text = "images:\n  - name: a\n    newTag: 1.10\n  - name: b\n    digest: sha256:00\n    newName: m/b\n"
    assert read_images(text, "k") == [ImageEntry("a", None, "1.10"), ImageEntry("b", "m/b", None, "sha256:00")]
    assert read_images("resources: [a]\n", "k") == []
    assert read_images("images:\n", "k") == []


@pytest.mark.parametrize(("text", "error"), [
    ("images: {}\n", "k: images: must be a list"),
    ("images:\n  - newTag: x\n", r"k: images\[0\] needs a name"),
    ("images:\n  - name: a\n    newTag: [1]\n", r"k: images\[0\].newTag must be a string"),
    ("images:\n  - name: a\n  - name: a\n", "k: image a is listed twice"),
    ("- a\n", "k: expected a Kustomization mapping"),
])
def test_read_images_errors(text: str, error: str) -> None:
    with pytest.raises(GitopsError, match=error):
        read_images(text, "k")


def test_entry_reference_and_version() -> None:
    tagged = ImageEntry("r/api", None, "1.2.0")
    assert (tagged.reference, tagged.version()) == ("r/api:1.2.0", "1.2.0")
    pinned = ImageEntry("r/api", "mirror/api", "1.2.0", DIGEST)
    assert pinned.reference == f"mirror/api:1.2.0@{DIGEST}"
    assert pinned.version() == "mirror/api:1.2.0@sha256:abababababab"
    assert ImageEntry("r/api", None, None, DIGEST).version() == "@sha256:abababababab"
    assert ImageEntry("r/api").version() == "(untagged)"


@pytest.mark.parametrize(("entry", "reason"), [
    (ImageEntry("a", None, "1.0"), None),
    (ImageEntry("a", None, None, DIGEST), None),
    (ImageEntry("a", None, "latest", DIGEST), None),  # the digest pins it
    (ImageEntry("a", None, "latest"), "is tagged latest"),
    (ImageEntry("a", "m/a"), "has no tag or digest"),
])
def test_unpinned_reason(entry: ImageEntry, reason: str | None) -> None:
    assert entry.unpinned_reason == reason


def test_parse_spec() -> None:
    assert parse_spec("r/api=1.3.0") == ImageEntry("r/api", None, "1.3.0")
    assert parse_spec(f"r/api@{DIGEST}") == ImageEntry("r/api", None, None, DIGEST)
    assert parse_spec(f"localhost:5000/api=v2@{DIGEST}") == ImageEntry("localhost:5000/api", None, "v2", DIGEST)
    for bad in ("r/api", "r/api=", "=1", "r/api=a/b", "r/api@sha256:123", "r/api@1.0"):
        with pytest.raises(GitopsError, match="invalid image"):
            parse_spec(bad)


def test_matches_full_name_or_last_segment() -> None:
    assert matches("registry.invalid/platform/api", "api")
    assert matches("registry.invalid/platform/api", "registry.invalid/platform/api")
    assert not matches("registry.invalid/platform/api-migrate", "api")
    assert not matches("registry.invalid/platform/api", "platform/api")


def test_update_paths_in_any_document_and_adds_missing_keys() -> None:
    text = "---\nkind: A\n---\n# the app\nspec:\n  source:\n    targetRevision: 1.0.0  # chart\n"
    assert edit.update(text, "a.yaml", {(1, "spec", "source", "targetRevision"): "1.10"}) == (
        "---\nkind: A\n---\n# the app\nspec:\n  source:\n    targetRevision: '1.10'  # chart\n")
    assert edit.update("", "v.yaml", {(0, "image", "tag"): "yes"}) == "image:\n  tag: 'yes'\n"
    assert edit.update("replicas: 1  # two in prod\n", "v.yaml", {(0, "api", "image", "tag"): "v2"}) == (
        "replicas: 1  # two in prod\napi:\n  image:\n    tag: v2\n")
