"""Run Argo CD style Lua scripts (health checks) in a sandbox like Argo CD's.

Argo CD runs these scripts with gopher-lua, a Lua 5.1. We use PUC Lua 5.1 through lupa: not LuaJIT,
whose compiled loops never call the instruction-count hook that enforces the time limit.

Each run gets a fresh Lua state (about 0.5 ms with the sandbox set up), so nothing a script does
survives into the next run.
A trusted setup chunk (_SANDBOX) captures what it needs in local variables, then strips the globals
down to what Argo CD offers: base, table, package and an `os` with only `time` and `date`;
`useOpenLibs` adds string, math, io, the rest of os (but not exit), coroutine and `debug.traceback`.
The `python` module lupa installs is removed; the only Python object Lua ever holds is the clock the
time-limit hook reads, kept where scripts cannot reach it, and an attribute filter denies everything.

The time limit is a count hook that raises once the deadline has passed. Like gopher-lua's context
check, it runs between VM instructions, so a single long C call (a huge string.rep with useOpenLibs)
is bounded by the memory limit rather than by the clock.
"""

from __future__ import annotations

import math
import time
from typing import Any

from lupa import lua51

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import Obj

TIME_LIMIT = 1.0  # seconds per run, as in Argo CD
MAX_MEMORY = 64 << 20  # bytes of Lua heap; a script building huge strings or tables fails instead
HOOK_EVERY = 10_000  # VM instructions between deadline checks: ~50 µs of Lua, ~1% overhead

_TIMEOUT_SENTINEL = "kubectl-gitops: Lua time limit exceeded"

_SANDBOX = r"""
local limit, open_libs, hook_every, TIMEOUT, clock = ...

-- Everything the sandbox needs is captured here, before the globals are cleared.
local G = _G
local sethook, set_mt_raw, traceback = debug.sethook, debug.setmetatable, debug.traceback
local error, type, tostring, select, pairs = error, type, tostring, select, pairs
local pcall_raw, xpcall_raw, loadstring_raw = pcall, xpcall, loadstring
local concat, byte = table.concat, string.byte
local co_create, co_resume = coroutine.create, coroutine.resume
local libs = {string = string, math = math, io = io, os = os, coroutine = coroutine, table = table}
local real_loaded = package.loaded

local expired, deadline = false, 0

-- A count hook: Lua 5.1 has no uncatchable error, so once the deadline has passed it keeps raising,
-- and the pcall/xpcall/coroutine wrappers below re-raise, so a script cannot swallow the timeout.
local function hook()
  if clock() > deadline then
    expired = true
    error(TIMEOUT, 0)
  end
end

local function rethrow_if_expired(...)
  if expired then error(TIMEOUT, 0) end
  return ...
end

local function pcall(...) return rethrow_if_expired(pcall_raw(...)) end
-- A timeout raised by the hook reaches the error handler while Lua has hooks switched off, so the
-- script's handler must not run then: it could loop forever.
local function xpcall(f, handler)
  local function guarded(e)
    if expired then return e end
    return handler(e)
  end
  return rethrow_if_expired(xpcall_raw(f, guarded))
end

-- Bytecode could crash the VM or break out of the sandbox: text chunks only.
local function loadstring(s, chunkname)
  if type(s) == "string" and byte(s, 1) == 27 then
    return nil, "attempt to load a binary chunk"
  end
  return loadstring_raw(s, chunkname)
end

local function load(reader, chunkname)
  local parts = {}
  while true do
    local piece = reader()
    if piece == nil or piece == "" then break end
    if type(piece) ~= "string" then return nil, "reader function must return a string" end
    parts[#parts + 1] = piece
  end
  return loadstring(concat(parts), chunkname or "=(load)")
end

-- Coroutines run on their own Lua thread, which needs its own hook.
local function co_create_hooked(f)
  local co = co_create(f)
  sethook(co, hook, "", hook_every)
  return co
end

local coroutine_safe = {
  create = co_create_hooked,
  resume = function(co, ...) return rethrow_if_expired(co_resume(co, ...)) end,
  running = libs.coroutine.running,
  status = libs.coroutine.status,
  yield = libs.coroutine.yield,
}

local function wrap_results(ok, ...)
  if expired then error(TIMEOUT, 0) end
  if not ok then error((...), 0) end
  return ...
end

coroutine_safe.wrap = function(f)
  local co = co_create_hooked(f)
  return function(...) return wrap_results(co_resume(co, ...)) end
end

local os_safe = {time = libs.os.time, date = libs.os.date}
local os_open = {}
for k, v in pairs(libs.os) do os_open[k] = v end
-- os.exit would end this command, not just the script.
os_open.exit = function() error("os.exit is not available to health checks", 2) end

local loaded = {}
local package_safe = {loaded = loaded, preload = {}, path = "", cpath = ""}

-- Only modules already in the sandbox or preloaded: no searching the disk, no C libraries.
local function require(name)
  local m = loaded[name]
  if m ~= nil then return m end
  local loader = package_safe.preload[name]
  if loader == nil then error("module '" .. tostring(name) .. "' not found", 2) end
  m = loader(name)
  if m == nil then m = true end
  loaded[name] = m
  return m
end

local keep = {
  "assert", "collectgarbage", "error", "getfenv", "getmetatable", "ipairs", "next", "pairs",
  "rawequal", "rawget", "rawset", "select", "setfenv", "setmetatable", "tonumber", "tostring",
  "type", "unpack", "_VERSION",
}
local base = {}
for _, name in ipairs(keep) do base[name] = G[name] end
for k in pairs(G) do G[k] = nil end
for k in pairs(real_loaded) do real_loaded[k] = nil end
for k, v in pairs(base) do G[k] = v end

G._G = G
G.pcall, G.xpcall = pcall, xpcall
G.load, G.loadstring, G.require = load, loadstring, require
-- stdout belongs to the command's own output
G.print = function() end
G.package = package_safe
G.table = libs.table
loaded._G, loaded.package, loaded.table = G, package_safe, libs.table

local os_lib = os_safe
if open_libs then
  os_lib = os_open
  G.string, G.math, G.io, G.coroutine = libs.string, libs.math, libs.io, coroutine_safe
  -- the rest of debug could remove the hook or reach the runner
  G.debug = {traceback = traceback}
  loaded.string, loaded.math, loaded.io = libs.string, libs.math, libs.io
  loaded.coroutine, loaded.debug = coroutine_safe, G.debug
else
  -- strings would otherwise still reach the string library through their metatable
  set_mt_raw("", nil)
end
G.os, loaded.os = os_lib, os_lib
package_safe.preload.os = function() return os_lib end

local function describe(e)
  if type(e) == "string" or type(e) == "number" then return tostring(e) end
  return "(error object is a " .. type(e) .. " value)"
end

local function finish(ok, ...)
  sethook()
  if expired then return "timeout", nil end
  if not ok then return "error", describe((...)) end
  local n = select("#", ...)
  -- Argo CD reads the top of the Lua stack: the last value returned, nil if none
  if n == 0 then return "ok", nil end
  return "ok", (select(n, ...))
end

local function run(source, chunkname, object)
  local fn, err = loadstring(source, chunkname)
  if not fn then return "error", err end
  G.obj = object
  expired, deadline = false, clock() + limit
  sethook(hook, "", hook_every)
  return finish(pcall_raw(fn))
end

-- For the Python-side converter: true the first time a table is seen (raw, no metamethods).
local seen = {}
local function first_visit(t)
  if seen[t] then return false end
  seen[t] = true
  return true
end

return run, first_visit
"""


class LuaScriptError(GitopsError):
    """A Lua script failed: syntax error, runtime error, time or memory limit, or an unusable result."""


class _UnconvertibleError(ValueError):
    """A Lua value with no JSON form."""


def run_script(source: str, obj: Obj, *, name: str, open_libs: bool = False,
               time_limit: float = TIME_LIMIT) -> Any:
    """Run `source` with global `obj`; return its last return value as JSON-like Python data.

    Empty Lua tables come back as [], like Argo CD's JSON encoding; nil as None.
    """
    runtime = lua51.LuaRuntime(register_eval=False, register_builtins=False, unpack_returned_tuples=True,
                               attribute_filter=_deny_attribute, max_memory=MAX_MEMORY)
    try:
        run, first_visit = runtime.execute(_SANDBOX, time_limit, open_libs, HOOK_EVERY, _TIMEOUT_SENTINEL,
                                             time.monotonic)
        table = runtime.table_from(_json_for_lua(obj), recursive=True)
        outcome, value = run(source, f"={name}", table)
        if outcome == "timeout":
            raise _timeout(name, time_limit)
        if outcome == "error":
            raise _script_error(name, value)
        return _from_lua(value, first_visit)
    except _UnconvertibleError as err:
        raise LuaScriptError(f"{name}: cannot convert the Lua result: {err}") from None
    except lua51.LuaMemoryError:
        raise _script_error(name, "not enough memory") from None
    except lua51.LuaError as err:
        # The hook can fire in the few runner instructions between the script's end and switching the
        # hook off; the timeout then surfaces here instead of as an outcome.
        if _TIMEOUT_SENTINEL in str(err):
            raise _timeout(name, time_limit) from None
        raise LuaScriptError(f"{name}: {err}") from None
    except UnicodeDecodeError:
        raise LuaScriptError(f"{name}: Lua script returned a string that is not valid UTF-8") from None


def _script_error(name: str, message: str) -> LuaScriptError:
    if message == "not enough memory":
        return LuaScriptError(f"{name}: Lua script exceeded the {MAX_MEMORY >> 20} MiB memory limit")
    # Lua's message already starts with "<name>:<line>:" when it has a position.
    return LuaScriptError(message if message.startswith(f"{name}:") else f"{name}: {message}")


def _timeout(name: str, time_limit: float) -> LuaScriptError:
    return LuaScriptError(f"{name}: Lua script exceeded the {time_limit:g}s time limit (runaway loop?)")


def _deny_attribute(obj: object, attr_name: object, is_setting: bool) -> str:
    raise AttributeError("Python objects are not accessible from Lua")


def _json_for_lua(value: Any) -> Any:
    """Drop nulls the way Argo CD's JSON→Lua conversion does.

    A null object field becomes an absent key; a null array element is skipped, closing the gap (gopher-lua's
    Append ignores nil), so `#` and ipairs see every remaining element.
    """
    if isinstance(value, dict):
        return {k: _json_for_lua(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_json_for_lua(v) for v in value if v is not None]
    return value


def _from_lua(value: Any, first_visit: Any) -> Any:
    """Lua → JSON-like Python, with the rules of Argo CD's JSON encoder (layeh gopher-json).

    An empty table is [], a table with keys 1..n a list, a table with string keys a dict; anything else
    (sparse or mixed keys, functions, a table reached twice) is an error. Numbers are float64 in gopher-lua:
    an integral value becomes an int, as it would after a JSON round trip.
    """
    kind = lua51.lua_type(value)
    if kind is None:
        return _from_lua_scalar(value)
    if kind != "table":
        raise _UnconvertibleError(f"cannot encode {kind} to JSON")
    if not first_visit(value):
        raise _UnconvertibleError("cannot encode recursively nested tables to JSON")
    items = list(value.items())
    if all(isinstance(k, str) for k, _ in items) and items:
        return {k: _from_lua(v, first_visit) for k, v in items}
    keys = [k for k, _ in items]
    if not all(isinstance(k, int | float) and not isinstance(k, bool) for k in keys):
        raise _UnconvertibleError("cannot encode mixed or invalid key types")
    if sorted(keys) != list(range(1, len(keys) + 1)):
        raise _UnconvertibleError("cannot encode sparse array")
    return [_from_lua(v, first_visit) for _, v in sorted(items, key=lambda kv: kv[0])]


def _from_lua_scalar(value: Any) -> Any:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _UnconvertibleError(f"cannot encode {value} to JSON")
        return int(value) if value.is_integer() else value
    return value
