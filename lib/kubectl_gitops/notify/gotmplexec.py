"""Execution of parsed Go templates with text/template's rules: a missing map key prints
"<no value>", a field of nil is an error, truth is "not the zero value", range over lists, maps
(sorted keys) and ints, and variables scoped to their block."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from kubectl_gitops.notify import govalues as gv
from kubectl_gitops.notify.gotemplate import Action, Branch, Pipe, TemplateError, parse


class Missing:
    """The value of a missing map key (Go's invalid reflect.Value)."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = Missing()


class FuncError(Exception):
    """Raised by template functions; the executor adds where it happened."""


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def truth(v: Any) -> bool:
    if v is MISSING or v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float | str | list | dict | tuple):
        return bool(v)
    return True


def go_type(v: Any) -> str:
    if v is MISSING:
        return "invalid value"
    names = {bool: "bool", int: "int", float: "float64", str: "string", list: "[]interface {}",
             dict: "map[string]interface {}"}
    return "interface {}" if v is None else names.get(type(v), type(v).__name__)


def printable(v: Any) -> str:
    return "<no value>" if v is MISSING else gv.go_str(v)


class Template:
    def __init__(self, name: str, text: str, funcs: dict[str, Callable[..., Any]]) -> None:
        self.name, self.funcs = name, funcs
        self.nodes = parse(name, text, funcs)

    def execute(self, data: Any) -> str:
        out: list[str] = []
        run = _Run(self, data, out)
        try:
            run.walk(self.nodes, data)
        except (_Break, _Continue):
            raise TemplateError(f"template: {self.name}: break or continue outside range") from None
        return "".join(out)


class _Vars:
    """$ and the variables blocks declare; a block's are dropped when it ends (reset to its mark)."""

    def __init__(self, data: Any) -> None:
        self.items: list[tuple[str, Any]] = [("$", data)]

    def mark(self) -> int:
        return len(self.items)

    def reset(self, mark: int) -> None:
        del self.items[mark:]

    def declare(self, name: str, value: Any) -> None:
        self.items.append((name, value))

    def assign(self, name: str, value: Any) -> bool:
        for j in range(len(self.items) - 1, -1, -1):
            if self.items[j][0] == name:
                self.items[j] = (name, value)
                return True
        return False

    def lookup(self, name: str) -> tuple[bool, Any]:
        for n, value in reversed(self.items):
            if n == name:
                return True, value
        return False, None


class _Pipelines:
    """The values of pipelines: commands chained by |, function calls, operands and their field chains,
    and the variables that declarations set."""

    def __init__(self, tmpl: Template, data: Any) -> None:
        self.tmpl = tmpl
        self.vars = _Vars(data)
        self.line = 0  # of the node being executed, for error messages

    def fail(self, message: str) -> NoReturn:
        raise TemplateError(f'template: {self.tmpl.name}:{self.line}: executing "{self.tmpl.name}": {message}')

    def pipe(self, pipe: Pipe, dot: Any) -> Any:
        value: Any = MISSING
        final: Any = MISSING
        for i, cmd in enumerate(pipe.cmds):
            value = self.command(cmd, dot, final if i else MISSING, has_final=i > 0)
            final = value
        for name in pipe.decl:
            if not pipe.assign:
                self.vars.declare(name, value)
            elif not self.vars.assign(name, value):
                self.fail(f"undefined variable: {name}")
        return value

    def command(self, cmd: list[Any], dot: Any, final: Any, *, has_final: bool) -> Any:
        head = cmd[0]
        if head[0] == "func":
            args = [self.arg(a, dot) for a in cmd[1:]]
            if has_final:
                args.append(final)
            return self.call(head[1], args)
        if len(cmd) > 1 or has_final:
            what = {"field": "." + ".".join(head[1]) if head[0] == "field" else ""}.get(head[0], head[0])
            self.fail(f"can't give argument to non-function {what}")
        return self.arg(head, dot)

    def call(self, name: str, args: list[Any]) -> Any:
        fn = self.tmpl.funcs[name]
        if name in ("and", "or"):
            # Go evaluates and/or lazily; all arguments are values here, so only the result matters.
            return fn(*args)
        try:
            return fn(*[None if a is MISSING else a for a in args])
        except (FuncError, TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as e:
            self.fail(f"error calling {name}: {e}")

    def arg(self, node: Any, dot: Any) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "nil":
            return None
        if kind == "dot":
            return dot
        if kind == "func":
            return self.call(node[1], [])
        if kind == "field":
            return self.fields(dot, node[1])
        if kind == "var":
            found, value = self.vars.lookup(node[1])
            if not found:
                self.fail(f"undefined variable: {node[1]}")
            return self.fields(value, node[2])
        return self.fields(self.pipe(node[1], dot), node[2])

    def fields(self, value: Any, names: list[str]) -> Any:
        """.a.b of a value: a missing key is MISSING (and stays so), a field of nil is an error."""
        for name in names:
            if value is MISSING:
                return MISSING
            if value is None:
                self.fail(f"nil pointer evaluating interface {{}}.{name}")
            if not isinstance(value, dict):
                self.fail(f"can't evaluate field {name} in type {go_type(value)}")
            value = value.get(name, MISSING)
        return value


class _Run(_Pipelines):
    """The walk over the parsed nodes: text and actions written out, if/with/range blocks, break and continue."""

    def __init__(self, tmpl: Template, data: Any, out: list[str]) -> None:
        super().__init__(tmpl, data)
        self.out = out

    def walk(self, nodes: list[Any], dot: Any) -> None:
        for node in nodes:
            if isinstance(node, str):
                self.out.append(node)
            elif isinstance(node, Action):
                self.line = node.line
                value = self.pipe(node.pipe, dot)
                if not node.pipe.decl:
                    self.out.append(printable(value))
            elif isinstance(node, Branch):
                self.branch(node, dot)
            else:
                self.line = node[1]
                raise _Break if node[0] == "break" else _Continue

    def branch(self, node: Branch, dot: Any) -> None:
        self.line = node.line
        mark = self.vars.mark()
        try:
            if node.kind == "range":
                self.range(node, dot)
                return
            value = self.pipe(node.pipe, dot)
            if truth(value):
                self.walk(node.body, value if node.kind == "with" else dot)
            else:
                self.walk(node.orelse, dot)
        finally:
            self.vars.reset(mark)

    def range(self, node: Branch, dot: Any) -> None:
        value = self.pipe(Pipe([], False, node.pipe.cmds), dot)
        items = _range_items(value)
        if items is None:
            self.fail(f"range can't iterate over {printable(value)}")
        if not items:
            self.walk(node.orelse, dot)
            return
        mark = self.vars.mark()
        for key, elem in items:
            decl = node.pipe.decl
            if len(decl) == 1:
                self.vars.declare(decl[0], elem)
            elif len(decl) == 2:
                self.vars.declare(decl[0], key)
                self.vars.declare(decl[1], elem)
            try:
                self.walk(node.body, elem)
            except _Break:
                break
            except _Continue:
                continue
            finally:
                self.vars.reset(mark)


def _range_items(value: Any) -> list[tuple[Any, Any]] | None:
    """(key, element) pairs to range over; None when the value cannot be ranged over."""
    if value is MISSING:
        return []
    if isinstance(value, list | tuple):
        return list(enumerate(value))
    if isinstance(value, dict):
        return [(k, value[k]) for k in sorted(value, key=str)]
    if isinstance(value, int) and not isinstance(value, bool):
        return [(i, i) for i in range(value)]
    return None


def render(name: str, text: str, data: Any, funcs: dict[str, Callable[..., Any]]) -> str:
    return Template(name, text, funcs).execute(data)
