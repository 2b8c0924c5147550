"""The Lua worker process: reads run requests on stdin, answers on stdout, one at a time, until EOF.

Frames are a 4-byte big-endian length and an orjson document. A request is {source, name, open_libs,
time_limit, obj}; the answer {"value": ...} or {"error": message}. Started by kubectl_gitops.lua.
"""

from __future__ import annotations

import sys
from typing import Any, BinaryIO

import orjson

from kubectl_gitops.lua import LuaScriptError, frame, sandbox

READY = b"\x00"  # written once the imports are done, so the first request's clock starts after them


def read_frame(stream: BinaryIO) -> bytes | None:
    header = stream.read(4)
    if len(header) < 4:
        return None
    size = int.from_bytes(header, "big")
    body = stream.read(size)
    return body if len(body) == size else None


def answer(request: bytes) -> bytes:
    req = orjson.loads(request)
    # The run's Lua state is closed when _outcome returns (nothing else refers to it), before the answer
    # goes out: closing runs the script's __gc metamethods, which can crash the process, and that must
    # count against this run, not the next.
    outcome = _outcome(req)
    try:
        return orjson.dumps(outcome)
    except orjson.JSONEncodeError as err:
        return orjson.dumps({"error": f"{req['name']}: cannot convert the Lua result: {err}"})


def _outcome(req: dict[str, Any]) -> dict[str, Any]:
    try:
        return {"value": sandbox.run(req["source"], req["obj"], name=req["name"], open_libs=req["open_libs"],
                                     time_limit=req["time_limit"])}
    except LuaScriptError as err:
        return {"error": str(err)}


def main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stdout.write(READY)
    stdout.flush()
    while (request := read_frame(stdin)) is not None:
        stdout.write(frame(answer(request)))
        stdout.flush()
