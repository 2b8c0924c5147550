"""Field access shared by the built-in checks: absent means empty, numbers read as Go's typed structs do."""

from __future__ import annotations

import json
from typing import Any

from kubectl_gitops.model import Obj


def status_of(obj: Obj) -> dict[str, Any]:
    return obj.get("status") or {}


def spec_of(obj: Obj) -> dict[str, Any]:
    return obj.get("spec") or {}


def name_of(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def generation_of(obj: Obj) -> int:
    return to_int((obj.get("metadata") or {}).get("generation"))


def to_int(value: Any) -> int:
    """An integer field as Go's typed structs read it: absent is 0, anything but a whole number is an error."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"expected an integer, got {value!r}")


def optional_int(value: Any) -> int | None:
    """A pointer field (spec.replicas, partition): absent stays absent."""
    return None if value is None else to_int(value)


def condition(status: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)


def quote(text: str) -> str:
    """Go's %q for the names that appear in messages."""
    return json.dumps(text, ensure_ascii=False)
