"""Custom Lua health checks: which script applies to a kind, and reading its result as Argo CD does.

Scripts come from argocd-cm (resource.customizations) first, then from a resource_customizations
directory (Argo CD's bundled checks, run with the standard libraries open). Within each, the exact
"group/Kind" key wins over globs; of several matching globs the longest (most specific) key wins, where
Argo CD takes whichever its map iteration yields first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubectl_gitops import lua
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.settings import HealthConfig
from kubectl_gitops.state import HEALTH_ORDER, HealthCode, HealthStatus

UNKNOWN = HealthCode.UNKNOWN
INVALID_LUA_STATUS = "Lua returned an invalid health status"  # Argo CD's wording


@dataclass(frozen=True)
class Script:
    name: str  # how messages name it: "<key>/health.lua"
    source: str
    open_libs: bool


class Scripts:
    """The custom scripts of one config, looked up once per kind."""

    def __init__(self, config: HealthConfig) -> None:
        # bundled scripts all get the standard libraries, as Argo CD runs its own
        self._layers = [(config.scripts, config.open_libs, _compile_globs(config.scripts)),
                        (config.bundled, frozenset(config.bundled), _compile_globs(config.bundled))]
        self._found: dict[str, Script | None] = {}

    def for_kind(self, group: str, kind: str) -> Script | None:
        wanted = f"{group}/{kind}" if group else kind
        if wanted not in self._found:
            self._found[wanted] = self._lookup(wanted)
        return self._found[wanted]

    def _lookup(self, wanted: str) -> Script | None:
        for scripts, open_libs, globs in self._layers:
            key = wanted if wanted in scripts else next((k for k, rx in globs if rx.match(wanted)), None)
            if key is not None:
                return Script(f"{key}/health.lua", scripts[key], key in open_libs)
        return None


def run(script: Script, obj: Any, time_limit: float) -> HealthStatus | None:
    try:
        result = lua.run_script(script.source, obj, name=script.name, open_libs=script.open_libs,
                                time_limit=time_limit)
    except lua.LuaScriptError as err:
        return HealthStatus(UNKNOWN, str(err))
    return _lua_health(result, script.name)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Argo CD's key globs (gobwas/glob without separators): * ? [abc] [!a-z] {x,y} and \\ escapes."""
    out: list[str] = []
    depth = 0
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 1
        elif c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                raise ValueError("unclosed [")
            body = pattern[i + 1:end]
            negate = body.startswith("!")
            chars = "".join(ch if ch == "-" else re.escape(ch) for ch in body[negate:])
            out.append(f"[{'^' if negate else ''}{chars}]")
            i = end
        elif c == "{":
            out.append("(?:")
            depth += 1
        elif c == "," and depth:
            out.append("|")
        elif c == "}" and depth:
            out.append(")")
            depth -= 1
        else:
            out.append(re.escape(c))
        i += 1
    if depth:
        raise ValueError("unclosed {")
    return re.compile("".join(out) + r"\Z", re.DOTALL)


_GLOB_CHARS = frozenset("*?[{\\")


def _compile_globs(scripts: Mapping[str, str]) -> list[tuple[str, re.Pattern[str]]]:
    globs = []
    for key in scripts:
        if _GLOB_CHARS.isdisjoint(key):
            continue
        try:
            globs.append((key, _glob_regex(key)))
        except ValueError as err:
            raise GitopsError(f"resource customization key {key!r} is not a valid pattern: {err}") from None
    return sorted(globs, key=lambda kv: (-len(kv[0]), kv[0]))


def _lua_health(result: Any, name: str) -> HealthStatus | None:
    """Read a script's result the way Argo CD unmarshals it into a HealthStatus.

    nil or an empty/array table gives an empty status, which Argo CD shows as no health; Go's JSON
    decoding matches field names case-insensitively.
    """
    if not isinstance(result, dict):
        if result is None or isinstance(result, list):
            return None
        return HealthStatus(UNKNOWN, f"{name}: expect table output from Lua script, not {_json_type(result)}")
    fields = {}
    for wanted in ("status", "message"):
        value = result.get(wanted, next((v for k, v in result.items() if k.lower() == wanted), ""))
        if not isinstance(value, str):
            return HealthStatus(UNKNOWN, f"{name}: health {wanted} must be a string, not {_json_type(value)}")
        fields[wanted] = value
    if fields["status"] not in HEALTH_ORDER:
        return HealthStatus(UNKNOWN, INVALID_LUA_STATUS)
    return HealthStatus(HealthCode(fields["status"]), fields["message"])


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


