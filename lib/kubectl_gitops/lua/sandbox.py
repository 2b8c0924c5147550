"""One Lua run in a sandbox like Argo CD's, in this process (the worker process calls it; see worker.py).

Argo CD runs scripts with gopher-lua: a Lua 5.1 whose parser also takes `goto` and labels. We run Lua 5.2
through lupa, the closest PUC Lua that has `goto` and still has only floating-point numbers (10/2 is
"5", as in gopher-lua; 5.3+ would print "5.0" and refuse %d for 2.5), with the 5.1 functions gopher-lua
offers put back in Lua: unpack, loadstring, getfenv/setfenv (on the function's _ENV upvalue),
table.getn/maxn, math.mod/log10, string.gfind; 5.2-only globals gopher-lua lacks are removed. LuaJIT 2.1
would be a 5.1 with `goto`, but lupa's macOS wheels do not ship it.

Each run gets a fresh Lua state (about 0.4 ms with the sandbox set up from its bytecode, compiled
once), so nothing a script does survives into the next run. A trusted setup chunk (_SANDBOX) captures
what it needs in local variables, then strips the globals down to what Argo CD offers: base, table,
package and an `os` with only `time` and `date`; `useOpenLibs` adds string, math, io, the rest of os
(but not exit), coroutine and `debug.traceback`. The `python` module lupa installs is removed; the only
Python object Lua ever holds is the clock the time-limit hook reads, kept where scripts cannot reach
it, and an attribute filter denies everything. The time limit is a count hook that raises once the
deadline has passed; a single long C call (a backtracking string.find) never reaches the hook, which
is why the commands run scripts in a worker process they can kill (kubectl_gitops.luaworker).
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any

from lupa import lua52

from kubectl_gitops.lua import MAX_DEPTH, MAX_MEMORY, LuaScriptError

HOOK_EVERY = 10_000  # VM instructions between deadline checks: ~50 µs of Lua, ~1% overhead

_TIMEOUT_SENTINEL = "kubectl-gitops: Lua time limit exceeded"

_SANDBOX = r"""
local limit, open_libs, hook_every, TIMEOUT, clock = ...

-- Everything the sandbox needs is captured here, before the globals are cleared.
local G = _G
local sethook, set_mt_raw, traceback = debug.sethook, debug.setmetatable, debug.traceback
local getinfo, getupvalue, upvaluejoin = debug.getinfo, debug.getupvalue, debug.upvaluejoin
local error, type, tostring, select, pairs, ipairs = error, type, tostring, select, pairs, ipairs
local pcall_raw, xpcall_raw, load_raw = pcall, xpcall, load
local concat, byte, unpack_raw = table.concat, string.byte, table.unpack
local fmod, log, gmatch = math.fmod, math.log, string.gmatch
local co_create, co_resume = coroutine.create, coroutine.resume
local libs = {string = string, math = math, io = io, os = os, coroutine = coroutine, table = table}
local real_loaded = package.loaded
-- From here on no function of the sandbox reads a global by accident (a script's setfenv could
-- swap such a function's environment).
local _ENV = nil

local expired, deadline = false, 0

-- A count hook. Once the deadline has passed it keeps raising, and the pcall/xpcall/coroutine
-- wrappers below re-raise, so a script cannot swallow the timeout.
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
  if type(s) ~= "string" then error("bad argument #1 to 'loadstring' (string expected)", 2) end
  return load_raw(s, chunkname or s, "t")
end

-- gopher-lua's load takes a reader function only, as Lua 5.1's does.
local function load(reader, chunkname)
  if type(reader) ~= "function" then error("bad argument #1 to 'load' (function expected)", 2) end
  local parts = {}
  while true do
    local piece = reader()
    if piece == nil or piece == "" then break end
    if type(piece) ~= "string" then return nil, "reader function must return a string" end
    parts[#parts + 1] = piece
  end
  return loadstring(concat(parts), chunkname or "=(load)")
end

-- Lua 5.1's function environments, on Lua 5.2's _ENV upvalue: a function that reads no global has
-- none, and its environment cannot matter.
local function env_index(f)
  local i = 1
  while true do
    local name = getupvalue(f, i)
    if name == nil then return nil end
    if name == "_ENV" then return i end
    i = i + 1
  end
end

local function function_at(f, what)
  if type(f) == "function" then return f end
  if type(f) ~= "number" or f < 0 then error("bad argument #1 to '" .. what .. "' (invalid level)", 3) end
  if f == 0 then return nil end
  local info = getinfo(f + 2, "f")
  if info == nil then error("bad argument #1 to '" .. what .. "' (invalid level)", 3) end
  return info.func
end

local function getfenv(f)
  local fn = function_at(f == nil and 1 or f, "getfenv")
  local i = fn and env_index(fn)
  if not i then return G end
  local _, env = getupvalue(fn, i)
  return env
end

local function setfenv(f, env)
  if type(env) ~= "table" then error("bad argument #2 to 'setfenv' (table expected)", 2) end
  local fn = function_at(f, "setfenv")
  -- nor the sandbox's own functions: setfenv returns the function, which would hand a script the runner
  local info = fn and getinfo(fn, "S")
  if fn == nil or info.what == "C" or info.source == "=sandbox" then
    error("cannot change the environment of given object", 2)
  end
  local i = env_index(fn)
  if i then upvaluejoin(fn, i, function() return env end, 1) end
  return fn
end

local function unpack(t, i, j)
  return unpack_raw(t, i or 1, j or #t)
end

local function maxn(t)
  local n = 0
  for k in pairs(t) do
    if type(k) == "number" and k > n then n = k end
  end
  return n
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

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- gopher-lua's table library: Lua 5.1's, without 5.2's pack and unpack.
local table_lib = copy(libs.table)
table_lib.pack, table_lib.unpack = nil, nil
table_lib.getn = function(t) return #t end
table_lib.maxn = maxn

local string_lib = libs.string
string_lib.gfind = gmatch
local math_lib = libs.math
math_lib.mod = fmod
math_lib.log10 = function(x) return log(x, 10) end

local os_safe = {time = libs.os.time, date = libs.os.date}
local os_open = copy(libs.os)
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
  "assert", "collectgarbage", "error", "getmetatable", "ipairs", "next", "pairs", "rawequal",
  "rawget", "rawset", "select", "setmetatable", "tonumber", "tostring", "type",
}
local base = {}
for _, name in ipairs(keep) do base[name] = G[name] end
for k in pairs(G) do G[k] = nil end
for k in pairs(real_loaded) do real_loaded[k] = nil end
for k, v in pairs(base) do G[k] = v end

G._G, G._VERSION = G, "Lua 5.1"
G.pcall, G.xpcall = pcall, xpcall
G.load, G.loadstring, G.require = load, loadstring, require
G.unpack, G.getfenv, G.setfenv = unpack, getfenv, setfenv
-- stdout belongs to the command's own output
G.print = function() end
G.package = package_safe
G.table = table_lib
loaded._G, loaded.package, loaded.table = G, package_safe, table_lib

local os_lib = os_safe
if open_libs then
  os_lib = os_open
  G.string, G.math, G.io, G.coroutine = string_lib, math_lib, libs.io, coroutine_safe
  -- the rest of debug could remove the hook or reach the runner
  G.debug = {traceback = traceback}
  loaded.string, loaded.math, loaded.io = string_lib, math_lib, libs.io
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
  local fn, err = load_raw(source, chunkname, "t")
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


class _UnconvertibleError(ValueError):
    """A Lua value with no JSON form."""


def run(source: str, obj: Any, *, name: str, open_libs: bool, time_limit: float) -> Any:
    """Run `source` with global `obj`; return its last return value as JSON-like Python data.

    Empty Lua tables come back as [], like Argo CD's JSON encoding; nil as None.
    """
    runtime = lua52.LuaRuntime(register_eval=False, register_builtins=False, unpack_returned_tuples=True,
                               attribute_filter=_deny_attribute, max_memory=MAX_MEMORY)
    try:
        setup = runtime.globals().load(_sandbox_bytecode(), "=sandbox", "b")
        run_lua, first_visit = setup(time_limit, open_libs, HOOK_EVERY, _TIMEOUT_SENTINEL, time.monotonic)
        table = runtime.table_from(_json_for_lua(obj), recursive=True)
        outcome, value = run_lua(source, f"={name}", table)
        if outcome == "timeout":
            raise timeout(name, time_limit)
        if outcome == "error":
            raise _script_error(name, value)
        return _from_lua(value, first_visit, 0)
    except _UnconvertibleError as err:
        raise LuaScriptError(f"{name}: cannot convert the Lua result: {err}") from None
    except lua52.LuaMemoryError:
        raise _script_error(name, "not enough memory") from None
    except lua52.LuaError as err:
        # The hook can fire in the few runner instructions between the script's end and switching the
        # hook off; the timeout then surfaces here instead of as an outcome.
        if _TIMEOUT_SENTINEL in str(err):
            raise timeout(name, time_limit) from None
        raise LuaScriptError(f"{name}: {err}") from None
    except UnicodeDecodeError:
        raise LuaScriptError(f"{name}: Lua script returned a string that is not valid UTF-8") from None


@functools.cache
def _sandbox_bytecode() -> bytes:
    """The setup chunk compiled once per process: loading it is ~3x faster than compiling it for every run.
    Our own bytecode only; scripts can load text chunks alone."""
    g = lua52.LuaRuntime(register_eval=False, register_builtins=False, encoding=None).globals()
    chunk: bytes = g.string.dump(g.load(_SANDBOX.encode(), b"=sandbox", b"t"))
    return chunk


def _script_error(name: str, message: str) -> LuaScriptError:
    if message == "not enough memory":
        return LuaScriptError(f"{name}: Lua script exceeded the {MAX_MEMORY >> 20} MiB memory limit")
    # Lua's message already starts with "<name>:<line>:" when it has a position.
    return LuaScriptError(message if message.startswith(f"{name}:") else f"{name}: {message}")


def timeout(name: str, time_limit: float) -> LuaScriptError:
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


def _from_lua(value: Any, first_visit: Any, depth: int) -> Any:
    """Lua → JSON-like Python, with the rules of Argo CD's JSON encoder (layeh gopher-json).

    An empty table is [], a table with keys 1..n a list, a table with string keys a dict; anything else
    (sparse or mixed keys, functions, a table reached twice) is an error. Numbers are float64 in gopher-lua:
    an integral value becomes an int, as it would after a JSON round trip.
    """
    kind = lua52.lua_type(value)
    if kind is None:
        return _from_lua_scalar(value)
    if kind != "table":
        raise _UnconvertibleError(f"cannot encode {kind} to JSON")
    if depth >= MAX_DEPTH:
        raise _UnconvertibleError(f"tables nested deeper than {MAX_DEPTH} levels")
    if not first_visit(value):
        raise _UnconvertibleError("cannot encode recursively nested tables to JSON")
    items = list(value.items())
    if all(isinstance(k, str) for k, _ in items) and items:
        return {k: _from_lua(v, first_visit, depth + 1) for k, v in items}
    keys = [k for k, _ in items]
    if not all(isinstance(k, int | float) and not isinstance(k, bool) for k in keys):
        raise _UnconvertibleError("cannot encode mixed or invalid key types")
    if sorted(keys) != list(range(1, len(keys) + 1)):
        raise _UnconvertibleError("cannot encode sparse array")
    return [_from_lua(v, first_visit, depth + 1) for _, v in sorted(items, key=lambda kv: kv[0])]


def _from_lua_scalar(value: Any) -> Any:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _UnconvertibleError(f"cannot encode {value} to JSON")
        # integral values within int64 read back as integers, as after Go's JSON round trip
        return int(value) if value.is_integer() and abs(value) < 2**63 else value
    return value
