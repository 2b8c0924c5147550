"""YAML/JSON reading and writing with libyaml (CSafeLoader is ~10x the pure-Python loader)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from kubectl_gitops.errors import GitopsError

try:
    from yaml import CSafeDumper as Dumper
    from yaml import CSafeLoader as Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeDumper as Dumper  # type: ignore[assignment]
    from yaml import SafeLoader as Loader  # type: ignore[assignment]


def load_all(text: str | bytes, source: str) -> Iterator[Any]:
    """Every non-empty document of a YAML stream; a parse error names `source`."""
    try:
        for doc in yaml.load_all(text, Loader=Loader):
            if doc is not None:
                yield doc
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(e, "problem", None) or str(e)
        raise GitopsError(f"{where}: invalid YAML: {problem}") from None


def load(text: str | bytes, source: str) -> Any:
    docs = list(load_all(text, source))
    if len(docs) != 1:
        raise GitopsError(f"{source}: expected one YAML document, found {len(docs)}")
    return docs[0]


def dump(obj: Any, sort_keys: bool = False) -> str:
    return yaml.dump(obj, Dumper=Dumper, default_flow_style=False, sort_keys=sort_keys, allow_unicode=True)


def dump_all(objs: list[Any]) -> str:
    return yaml.dump_all(objs, Dumper=Dumper, default_flow_style=False, sort_keys=False,
                         allow_unicode=True)
