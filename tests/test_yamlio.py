"""yamlio reads YAML and JSON as strictly as kubectl: duplicate keys and alias bombs are refused with the
file and line, and what is refused costs no more than reading it."""

from __future__ import annotations

import resource
import time

import pytest

from kubectl_gitops import yamlio
from kubectl_gitops.errors import GitopsError


def _error(text: str | bytes, source: str = "app/cm.yaml") -> str:
    with pytest.raises(GitopsError) as info:
        list(yamlio.load_all(text, source))
    return info.value.message


@pytest.mark.parametrize(("text", "expected"), [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: x\n  name: b\n",
     "app/cm.yaml:6:3: invalid YAML: key 'name' is given twice in this mapping (first on line 4)"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  k: one\n  j: two\n  k: three\n",
     "app/cm.yaml:7:3: invalid YAML: key 'k' is given twice in this mapping (first on line 5)"),
    ("a: 1\n---\nb: {x: 1, x: 2}\n",
     "app/cm.yaml:3:11: invalid YAML: key 'x' is given twice in this mapping (first on line 3)"),
])
def test_duplicate_keys_name_file_and_line(text: str, expected: str) -> None:
    assert _error(text) == expected


def test_merge_keys_may_be_overridden() -> None:
    """`<<: *base` then a key of the base again is how merge keys are meant to be used, not a duplicate."""
    docs = list(yamlio.load_all("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  x: 3\n", "f"))
    assert docs == [{"base": {"x": 1, "y": 2}, "m": {"x": 3, "y": 2}}]


def test_aliases_within_reason_are_read() -> None:
    text = "a: &a {k: v}\nb: [*a, *a, *a]\n"
    assert list(yamlio.load_all(text, "f")) == [{"a": {"k": "v"}, "b": [{"k": "v"}] * 3}]


def _bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n" + \
        "".join(f"  {line}\n" for line in lines)


def test_alias_bomb_is_refused_quickly_without_memory() -> None:
    text = _bomb()
    assert len(text) < 1024  # 9^9 = 387 million strings once expanded (~5 GB as Python objects)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    msg = _error(text)
    assert time.perf_counter() - start < 1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB
    assert msg.startswith("app/cm.yaml:")
    assert "YAML aliases expand this document to more than 10 MB; refused (an alias bomb?)" in msg


def test_self_referencing_alias_is_refused() -> None:
    assert _error("a: &a [1, *a]\n") == "app/cm.yaml:1:4: a YAML alias refers to the node that contains it; " \
                                        "refused"


def test_json_duplicate_key_names_the_line() -> None:
    with pytest.raises(GitopsError) as info:
        yamlio.load_json(b'{"apiVersion": "v1",\n "kind": "ConfigMap",\n "kind": "Secret"}', "cm.json")
    assert info.value.message == "cm.json:3:2: invalid JSON: key 'kind' is given twice in this mapping " \
                                 "(first on line 2)"


def test_json_syntax_error_names_line_and_column() -> None:
    with pytest.raises(GitopsError) as info:
        yamlio.load_json(b'{"apiVersion": "v1",\n "kind": }', "cm.json")
    assert info.value.message == "cm.json:2:10: invalid JSON: Expecting value"


def test_json_reads_like_orjson() -> None:
    assert yamlio.load_json(b'{"a": [1, 2.5, "x", null, true], "b": {}}', "f") == \
        {"a": [1, 2.5, "x", None, True], "b": {}}
