"""Argo CD style Lua health scripts: semantics, data conversion, sandbox and limits. They run in the
worker process, as the commands run them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from kubectl_gitops import lua, luaworker
from kubectl_gitops.health import (
    DEGRADED,
    HEALTHY,
    INVALID_LUA_STATUS,
    PROGRESSING,
    UNKNOWN,
    HealthChecker,
    HealthConfig,
    HealthStatus,
)

KEY = "certs.example.com/Certificate"


@pytest.fixture(autouse=True, scope="module")
def worker() -> Iterator[luaworker.Worker]:
    runner = luaworker.Worker()
    lua.use(runner)
    yield runner
    lua.use(None)

NAME = f"{KEY}/health.lua"


def certificate(conditions: list[dict] | None = None, **spec: object) -> dict:
    obj = {
        "apiVersion": "certs.example.com/v1",
        "kind": "Certificate",
        "metadata": {"name": "shop-tls", "namespace": "shop", "generation": 2,
                     "uid": "0f4a3f9e-6c1d-4b7e-9a2f-5e8d7c6b5a49", "resourceVersion": "4711"},
        "spec": {"secretName": "shop-tls", "dnsNames": ["shop.example.com", "www.shop.example.com"],
                 "issuerRef": {"kind": "ClusterIssuer", "name": "letsencrypt"}, **spec},
    }
    if conditions is not None:
        obj["status"] = {"conditions": conditions}
    return obj


def ready(status: str, message: str, reason: str = "Ready") -> dict:
    return {"type": "Ready", "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2026-11-26T10:10:09Z", "observedGeneration": 2}


def check(script: str, obj: dict | None = None, *, open_libs: bool = False, time_limit: float = 1.0
          ) -> HealthStatus | None:
    config = HealthConfig(scripts={KEY: script}, open_libs=frozenset({KEY} if open_libs else ()))
    return HealthChecker(config, time_limit=time_limit).check(obj if obj is not None else certificate([]))


# --- realistic scripts, written the way Argo CD's resource_customizations are -----------------------

CERTIFICATE = """
local hs = {}
if obj.status ~= nil and obj.status.conditions ~= nil then
  for i, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" and condition.status == "False" then
      hs.status = "Degraded"
      hs.message = condition.message
      return hs
    end
    if condition.type == "Ready" and condition.status == "True" then
      hs.status = "Healthy"
      hs.message = condition.message
      return hs
    end
  end
end
hs.status = "Progressing"
hs.message = "Waiting for certificate"
return hs
"""


@pytest.mark.parametrize(("conditions", "expected"), [
    (None, HealthStatus(PROGRESSING, "Waiting for certificate")),
    ([], HealthStatus(PROGRESSING, "Waiting for certificate")),
    ([ready("True", "Certificate is up to date and has not expired")],
     HealthStatus(HEALTHY, "Certificate is up to date and has not expired")),
    ([{"type": "Issuing", "status": "True", "reason": "DoesNotExist", "message": "Issuing certificate"},
      ready("False", "Issuing certificate as Secret does not exist", "DoesNotExist")],
     HealthStatus(DEGRADED, "Issuing certificate as Secret does not exist")),
])
def test_certificate_script(conditions: list[dict] | None, expected: HealthStatus) -> None:
    assert check(CERTIFICATE, certificate(conditions)) == expected


COUNTS = """
local names = #obj.spec.dnsNames
local hs = {status = "Healthy"}
if obj.status == nil or #obj.status.conditions == 0 then
  hs.status = "Progressing"
end
hs.message = names .. " names, renewal at " .. obj.spec.renewPercent .. "%, "
  .. obj.metadata.generation .. " generations"
return hs
"""


def test_length_operator_and_number_formatting() -> None:
    # gopher-lua numbers are float64, yet 2 prints as "2" (Lua 5.1), while 66.5 stays fractional
    obj = certificate([ready("True", "ok")], renewPercent=66.5)
    assert check(COUNTS, obj) == HealthStatus(HEALTHY, "2 names, renewal at 66.5%, 2 generations")
    assert check(COUNTS, certificate([], renewPercent=50)) == HealthStatus(
        PROGRESSING, "2 names, renewal at 50%, 2 generations")


NIL_FIELDS = """
if obj.spec.duration == nil then
  return {status = "Degraded", message = "spec.duration is not set"}
end
if obj.spec.privateKey ~= nil and next(obj.spec.privateKey) == nil then
  return {status = "Healthy", message = "default private key settings"}
end
return {status = "Healthy", message = "duration " .. obj.spec.duration}
"""


def test_nil_fields_and_empty_objects() -> None:
    assert check(NIL_FIELDS, certificate()) == HealthStatus(DEGRADED, "spec.duration is not set")
    # a JSON null is an absent key, as in Argo CD
    assert check(NIL_FIELDS, certificate(duration=None)) == HealthStatus(DEGRADED, "spec.duration is not set")
    assert check(NIL_FIELDS, certificate(duration="2160h", privateKey={})) == HealthStatus(
        HEALTHY, "default private key settings")
    assert check(NIL_FIELDS, certificate(duration="2160h")) == HealthStatus(HEALTHY, "duration 2160h")


def test_null_array_elements_are_skipped_like_gopher_lua() -> None:
    script = 'return {status = "Healthy", message = #obj.spec.dnsNames .. " " .. obj.spec.dnsNames[2]}'
    obj = certificate(dnsNames=["a.example.com", None, "b.example.com"])
    assert check(script, obj) == HealthStatus(HEALTHY, "2 b.example.com")


def test_require_os_and_safe_os_functions() -> None:
    script = """
local os = require("os")
local now = os.time()
local year = tonumber(os.date("!%Y", now))
if year >= 2024 then return {status = "Healthy", message = "clock works"} end
return {status = "Degraded", message = "clock is off"}
"""
    assert check(script) == HealthStatus(HEALTHY, "clock works")


def test_table_library_is_available() -> None:
    script = """
local reasons = {}
for _, c in ipairs(obj.status.conditions) do table.insert(reasons, c.reason) end
table.sort(reasons)
return {status = "Healthy", message = table.concat(reasons, ",")}
"""
    obj = certificate([ready("True", "ok", "Ready"), {"type": "Issuing", "status": "False", "reason": "Done"}])
    assert check(script, obj) == HealthStatus(HEALTHY, "Done,Ready")


# --- what a script returns ------------------------------------------------------------------------


@pytest.mark.parametrize(("script", "expected"), [
    ("return nil", None),
    ("local hs = {}", None),  # no return value at all
    ("return {}", None),  # an empty table is an empty array, so no status: Argo CD shows no health
    ('return {status = "Fine"}', HealthStatus(UNKNOWN, INVALID_LUA_STATUS)),
    ('return {message = "no status"}', HealthStatus(UNKNOWN, INVALID_LUA_STATUS)),
    ('return {Status = "Healthy", MESSAGE = "Go matches JSON keys case-insensitively"}',
     HealthStatus(HEALTHY, "Go matches JSON keys case-insensitively")),
    ('return {status = "Healthy", message = 3}',
     HealthStatus(UNKNOWN, f"{NAME}: health message must be a string, not number")),
    ("return 1", HealthStatus(UNKNOWN, f"{NAME}: expect table output from Lua script, not number")),
    ('return "Healthy"', HealthStatus(UNKNOWN, f"{NAME}: expect table output from Lua script, not string")),
    ('return {status = "Degraded"}, "ignored"',  # Argo CD reads the top of the stack: the last value
     HealthStatus(UNKNOWN, f"{NAME}: expect table output from Lua script, not string")),
    ('return {status = "Healthy", extra = print}',
     HealthStatus(UNKNOWN, f"{NAME}: cannot convert the Lua result: cannot encode function to JSON")),
])
def test_return_values(script: str, expected: HealthStatus | None) -> None:
    assert check(script) == expected


def test_object_round_trip_follows_argo_json_rules() -> None:
    obj = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "x", "labels": {}},
           "spec": {"replicas": 3, "ratio": 0.25, "big": 2**53, "on": True, "ports": [{"port": 80}], "none": None,
                    "empty": []}}
    back = lua.run_script("return obj", obj, name="t")
    # nulls vanish and empty objects come back as arrays: Lua cannot tell {} from []
    assert back == {"apiVersion": "v1", "kind": "X", "metadata": {"name": "x", "labels": []},
                    "spec": {"replicas": 3, "ratio": 0.25, "big": 2**53, "on": True, "ports": [{"port": 80}],
                             "empty": []}}
    assert isinstance(back["spec"]["replicas"], int)


@pytest.mark.parametrize(("script", "error"), [
    ("return {1, 2, nil, 4}", "cannot encode sparse array"),
    ("return {1, x = 2}", "cannot encode mixed or invalid key types"),
    ("local t = {} t[1] = t return t", "cannot encode recursively nested tables to JSON"),
    ("local t = {} return {t, t}", "cannot encode recursively nested tables to JSON"),
    ("return {[true] = 1}", "cannot encode mixed or invalid key types"),
    ("return 0/0", "cannot encode nan to JSON"),
])
def test_unconvertible_results(script: str, error: str) -> None:
    with pytest.raises(lua.LuaScriptError) as info:
        lua.run_script(script, {}, name="t")
    assert str(info.value) == f"t: cannot convert the Lua result: {error}"


def test_arrays_come_back_in_order() -> None:
    assert lua.run_script("local t = {} for i = 5, 1, -1 do t[i] = i * 10 end return t", {}, name="t") == [
        10, 20, 30, 40, 50]


# --- errors and limits ----------------------------------------------------------------------------


def test_lua_error_is_unknown_with_the_error_text() -> None:
    assert check('error("boom")') == HealthStatus(UNKNOWN, f"{NAME}:1: boom")
    assert check('error("boom", 0)') == HealthStatus(UNKNOWN, f"{NAME}: boom")
    assert check("error({code = 1})") == HealthStatus(UNKNOWN, f"{NAME}: (error object is a table value)")
    assert check("local x = obj.spec.missing.field") == HealthStatus(
        UNKNOWN, f"{NAME}:1: attempt to index field 'missing' (a nil value)")


def test_syntax_error_is_unknown() -> None:
    assert check("return {status = }") == HealthStatus(UNKNOWN, f"{NAME}:1: unexpected symbol near '}}'")


RUNAWAYS = [
    "while true do end",
    "local i = 0 repeat i = i + 1 until false",
    "local function f() return f() end return f()",  # a proper tail call never overflows the stack
    # a script cannot swallow the timeout
    "while true do pcall(function() while true do end end) end",
    "while true do pcall(error) end",
    "xpcall(function() while true do end end, function() while true do end end) while true do end",
]


@pytest.mark.parametrize("script", RUNAWAYS)
def test_runaway_script_is_unknown_within_the_limit(script: str) -> None:
    start = time.monotonic()
    health = check(script, time_limit=0.3)
    elapsed = time.monotonic() - start
    assert health == HealthStatus(UNKNOWN, f"{NAME}: Lua script exceeded the 0.3s time limit (runaway loop?)")
    assert 0.3 <= elapsed < 1.0


def test_default_limit_is_one_second() -> None:
    start = time.monotonic()
    assert check("while true do end") == HealthStatus(
        UNKNOWN, f"{NAME}: Lua script exceeded the 1s time limit (runaway loop?)")
    assert 1.0 <= time.monotonic() - start < 2.0


@pytest.mark.parametrize("script", [
    "local co = coroutine.wrap(function() while true do end end) co()",
    "local co = coroutine.create(function() while true do end end) while true do coroutine.resume(co) end",
])
def test_runaway_coroutine_is_stopped_too(script: str) -> None:
    start = time.monotonic()
    assert check(script, open_libs=True, time_limit=0.3).status == UNKNOWN
    assert time.monotonic() - start < 1.0


def test_memory_limit() -> None:
    script = "local t = {} for i = 1, 1e8 do t[i] = i end"
    assert check(script) == HealthStatus(UNKNOWN, f"{NAME}: Lua script exceeded the 64 MiB memory limit")
    script = "local s = 'x' for i = 1, 40 do s = s .. s end"
    assert check(script, open_libs=True).message.endswith("exceeded the 64 MiB memory limit")


# --- the sandbox ----------------------------------------------------------------------------------

SANDBOX_PROBE = """
local names = {"io", "debug", "string", "math", "coroutine", "python", "dofile", "loadfile", "newproxy",
  "module", "jit", "bit"}
local present = {}
for _, name in ipairs(names) do
  if _G[name] ~= nil then table.insert(present, name) end
end
for _, name in ipairs({"execute", "exit", "getenv", "remove", "rename", "tmpname", "clock"}) do
  if os[name] ~= nil then table.insert(present, "os." .. name) end
end
return {status = "Healthy", message = table.concat(present, " ")}
"""


def test_default_sandbox_offers_only_base_table_package_and_safe_os() -> None:
    assert check(SANDBOX_PROBE) == HealthStatus(HEALTHY, "")


def test_open_libs_add_the_standard_library_but_not_the_python_bridge() -> None:
    assert check(SANDBOX_PROBE, open_libs=True) == HealthStatus(
        HEALTHY, "io debug string math coroutine os.execute os.exit os.getenv os.remove os.rename os.tmpname "
                 "os.clock")
    script = """
return {status = "Healthy", message = string.format("%s %d %s %s", ("ab"):upper(), math.floor(2.7),
  type(io.open), tostring(debug.sethook))}
"""
    assert check(script, open_libs=True) == HealthStatus(HEALTHY, "AB 2 function nil")


@pytest.mark.parametrize(("script", "error"), [
    ('io.open("/etc/passwd")', "attempt to index global 'io' (a nil value)"),
    ('os.execute("id")', "attempt to call field 'execute' (a nil value)"),
    ('os.getenv("HOME")', "attempt to call field 'getenv' (a nil value)"),
    ('python.eval("1")', "attempt to index global 'python' (a nil value)"),
    ('require("python")', "module 'python' not found"),
    ('require("io")', "module 'io' not found"),
    ('dofile("/etc/passwd")', "attempt to call global 'dofile' (a nil value)"),
    ('return ("x"):rep(3)', "(a string value)"),  # no string library via metatables
    ('debug.getregistry()', "attempt to index global 'debug' (a nil value)"),
])
def test_sandbox_denies(script: str, error: str) -> None:
    health = check(script)
    assert health is not None and health.status == UNKNOWN
    assert error in health.message


def test_os_exit_is_refused_even_with_open_libs() -> None:
    assert check("os.exit(3)", open_libs=True) == HealthStatus(
        UNKNOWN, f"{NAME}:1: os.exit is not available to health checks")


BYTECODE = "\\27LuaQ\\0\\1\\4\\8\\4\\8\\0"  # the start of a Lua 5.1 binary chunk, as a Lua string escape


@pytest.mark.parametrize(("script", "open_libs"), [
    (f'local f, err = loadstring("{BYTECODE}") return {{status = "Healthy", message = err}}', False),
    ('local c = "' + BYTECODE + '" local f, err = load(function() local p = c c = nil return p end) '
     'return {status = "Healthy", message = err}', False),
    ('local f, err = loadstring(string.dump(function() return 1 end)) '
     'return {status = "Healthy", message = err}', True),
])
def test_binary_chunks_are_refused(script: str, open_libs: bool) -> None:
    assert check(script, open_libs=open_libs) == HealthStatus(HEALTHY, "attempt to load a binary chunk")


def test_text_chunks_still_load_and_see_only_the_sandbox() -> None:
    script = 'return {status = "Healthy", message = tostring(loadstring("return io")()) .. " " .. ' \
             'loadstring("return 1 + 1")()}'
    assert check(script) == HealthStatus(HEALTHY, "nil 2")


def test_print_is_silent(capfd: pytest.CaptureFixture[str]) -> None:
    assert check('print("debugging") return {status = "Healthy"}') == HealthStatus(HEALTHY)
    assert capfd.readouterr().out == ""


def test_runs_are_isolated() -> None:
    first = 'leaked = "yes" table.insert = nil return {status = "Healthy"}'
    second = 'return {status = "Healthy", message = tostring(leaked) .. " " .. type(table.insert)}'
    assert check(first) == HealthStatus(HEALTHY)
    assert check(second) == HealthStatus(HEALTHY, "nil function")


# --- gopher-lua's dialect: goto, and the Lua 5.1 library on Lua 5.2 ---------------------------------

GOTO = """
local ready, total = 0, 0
for _, c in ipairs(obj.status.conditions) do
  total = total + 1
  if c.status ~= "True" then goto continue end
  ready = ready + 1
  ::continue::
end
local hs = {status = "Progressing"}
if ready == total then hs.status = "Healthy" end
hs.message = ready .. " of " .. total .. " conditions true"
return hs
"""


def test_goto_and_labels() -> None:
    obj = certificate([ready("True", "ok"), {"type": "Issuing", "status": "False"}, ready("True", "ok", "Again")])
    assert check(GOTO, obj) == HealthStatus(PROGRESSING, "2 of 3 conditions true")
    obj = certificate([ready("True", "ok")])
    assert check(GOTO, obj) == HealthStatus(HEALTHY, "1 of 1 conditions true")


@pytest.mark.parametrize(("expression", "value", "open_libs"), [
    ("select(2, unpack({'a', 'b', 'c'}))", "b", False),
    ("select('#', unpack({1, 2, 3}, 2))", "2", False),
    ("loadstring('return 1 + 2')()", "3", False),
    ("table.getn({1, 2, 3})", "3", False),
    ("table.maxn({[1] = 1, [7] = 1})", "7", False),
    ("#obj.spec.dnsNames", "2", False),
    ("10 / 2", "5", False),  # one number type, as gopher-lua's float64: not 5.0
    ("2^53", "9.007199254741e+15", False),
    ("math.mod(7, 3)", "1", True),
    ("math.log10(1000)", "3", True),
    ("string.format('%d', 2.5)", "2", True),
    ("(function() local n = 0 for w in string.gfind('a b c', '%a') do n = n + 1 end return n end)()", "3", True),
    ("_VERSION", "Lua 5.1", False),
    # Lua 5.2 additions gopher-lua does not have are not there either
    ("tostring(rawlen) .. tostring(table.pack) .. tostring(table.unpack) .. tostring(bit32)", "nilnilnilnil", False),
])
def test_lua51_library(expression: str, value: str, open_libs: bool) -> None:
    script = f"return {{status = 'Healthy', message = tostring({expression})}}"
    assert check(script, open_libs=open_libs) == HealthStatus(HEALTHY, value)


def test_setfenv_and_getfenv() -> None:
    script = """
local function probe() return kind end
setfenv(probe, {kind = "sandboxed"})
assert(getfenv(probe).kind == "sandboxed")
assert(getfenv(1) == _G and getfenv() == _G and getfenv(0) == _G)
kind = "global"
local f = loadstring("return kind")
local g = setfenv(f, {kind = "chunk"})
return {status = "Healthy", message = probe() .. " " .. g() .. " " .. kind .. " " .. tostring(getfenv(print) == _G)}
"""
    assert check(script) == HealthStatus(HEALTHY, "sandboxed chunk global true")


def test_setfenv_refuses_c_functions_and_levels_beyond_the_stack() -> None:
    assert check("setfenv(tostring, {})").message == f"{NAME}:1: cannot change the environment of given object"
    assert "invalid level" in check("getfenv(50)").message


def test_setfenv_never_hands_out_a_function_of_the_sandbox() -> None:
    # setfenv returns the function whose environment it changed; above the script are the sandbox's
    # runner and C functions, none of which it may change or return
    script = """
local pcall, setfenv, getfenv, concat, tostring = pcall, setfenv, getfenv, table.concat, tostring
local main = setfenv(1, getfenv(1))
local results = {}
for level = 2, 9 do
  local ok, f = pcall(setfenv, level, {})
  results[#results + 1] = (ok and f ~= main) and "leaked" or "-"
end
return {status = "Healthy", message = concat(results, "")}
"""
    assert check(script) == HealthStatus(HEALTHY, "--------")


def test_setfenv_refuses_the_sandbox_functions_a_script_can_name() -> None:
    script = """
local refused = 0
for _, f in ipairs({pcall, xpcall, require, loadstring, load, setfenv, getfenv, unpack, print}) do
  local ok, err = pcall(setfenv, f, {})
  if not ok and err:find("cannot change the environment of given object", 1, true) then refused = refused + 1 end
end
return {status = "Healthy", message = tostring(refused)}
"""
    assert check(script, open_libs=True) == HealthStatus(HEALTHY, "9")


# --- hostile scripts end as Unknown, and the next check runs (issue 12) ------------------------------

BACKTRACKING = 'return {status = "Healthy", message = tostring(string.find(string.rep("a", 5000), ".-.-.-.-.-.-.-b"))}'


def test_a_backtracking_pattern_is_stopped_at_the_limit() -> None:
    # one C call that never reaches the Lua hook: the worker running it is killed
    start = time.monotonic()
    health = check(BACKTRACKING, open_libs=True)
    elapsed = time.monotonic() - start
    assert health == HealthStatus(UNKNOWN, f"{NAME}: Lua script exceeded the 1s time limit (stuck in a library call "
                                           "such as string.find)")
    assert 1.0 <= elapsed < 1.0 + luaworker.KILL_GRACE + 0.5
    assert check(CERTIFICATE, certificate([ready("True", "fine")])) == HealthStatus(HEALTHY, "fine")


def test_a_table_nested_5000_deep_is_unknown() -> None:
    script = 'local t = {status = "Healthy"} local c = t for i = 1, 5000 do c.x = {} c = c.x end return t'
    assert check(script) == HealthStatus(UNKNOWN, f"{NAME}: cannot convert the Lua result: tables nested deeper "
                                                  "than 200 levels")


def test_an_object_nested_too_deep_for_lua_is_unknown() -> None:
    obj: dict = certificate([])
    inner = obj["spec"]
    for _ in range(300):
        inner["x"] = {}
        inner = inner["x"]
    assert check("return {status = 'Healthy'}", obj) == HealthStatus(
        UNKNOWN, f"{NAME}: cannot pass the object to Lua: Recursion limit reached")


def test_a_script_that_crashes_the_lua_engine_is_unknown_and_the_next_check_runs() -> None:
    # thousands of __gc metamethods that raise, run when the state is closed: Lua 5.2 crashes there
    script = 'local t = {} while true do t[#t + 1] = setmetatable({}, {__gc = function() error("x") end}) end'
    health = check(script, open_libs=True)
    assert health is not None and health.status == UNKNOWN and health.message.startswith(f"{NAME}: ")
    assert check(CERTIFICATE, certificate([ready("True", "after the crash")])) == HealthStatus(
        HEALTHY, "after the crash")


def test_one_worker_serves_every_check(worker: luaworker.Worker) -> None:
    check(CERTIFICATE)
    pid = worker.pid
    assert pid is not None
    for _ in range(20):
        check(CERTIFICATE)
    assert worker.pid == pid


def test_without_a_worker_scripts_run_in_this_process(worker: luaworker.Worker) -> None:
    lua.use(None)
    try:
        assert check(GOTO, certificate([ready("True", "ok")])) == HealthStatus(HEALTHY, "1 of 1 conditions true")
    finally:
        lua.use(worker)
