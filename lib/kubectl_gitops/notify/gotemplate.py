"""A parser for the Go text/template subset notification templates use: actions with trim markers,
comments, fields, variables, pipelines, parentheses, if/else if/else, range (with $i, $v, else,
break, continue), with/else and literals. Functions are checked at parse time, as Go does."""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any, NoReturn

from kubectl_gitops.notify.govalues import unquote


class TemplateError(Exception):
    """A parse or execution error; the message names the template and the line."""


KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}

_ACTION_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|`[^`]*`)
  | (?P<char>'(?:[^'\\\n]|\\.)+')
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][-+]?\d+)?))
  | (?P<decl>:=)
  | (?P<assign>=)
  | (?P<field>\.[A-Za-z_][A-Za-z0-9_]*)
  | (?P<dot>\.)
  | (?P<var>\$[A-Za-z0-9_]*)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[|(),])
""", re.VERBOSE)


@dataclass
class Pipe:
    decl: list[str]  # variables declared (:=) or assigned (=)
    assign: bool
    cmds: list[list[Any]]  # each command: a list of operand nodes


@dataclass
class Branch:
    """{{if}}, {{with}} or {{range}}: the pipeline, the body and the else part (which may hold an
    `else if`/`else with` as its only node)."""

    kind: str
    pipe: Pipe
    body: list[Any] = field(default_factory=list)
    orelse: list[Any] = field(default_factory=list)
    line: int = 0


@dataclass
class Action:
    pipe: Pipe
    line: int


class _Lexer:
    def __init__(self, name: str, text: str) -> None:
        self.name, self.text = name, text

    def items(self) -> list[tuple[str, Any, int]]:
        """("text", str, line) and ("action", tokens, line) items, trim markers applied."""
        out: list[tuple[str, Any, int]] = []
        pos, trim_next = 0, False
        text = self.text
        while True:
            start = text.find("{{", pos)
            chunk = text[pos:] if start < 0 else text[pos:start]
            if trim_next:
                chunk = chunk.lstrip(" \t\r\n")
            if start < 0:
                if chunk:
                    out.append(("text", chunk, self.line(pos)))
                return out
            body_start = start + 2
            if text.startswith("-", body_start) and text[body_start + 1:body_start + 2] in (" ", "\t", "\r", "\n"):
                chunk = chunk.rstrip(" \t\r\n")
                body_start += 2
            if chunk:
                out.append(("text", chunk, self.line(pos)))
            tokens, pos, trim_next = self.action(body_start)
            if tokens is not None:
                out.append(("action", tokens, self.line(start)))

    def line(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def fail(self, pos: int, message: str) -> NoReturn:
        raise TemplateError(f"template: {self.name}:{self.line(pos)}: {message}")

    def action(self, pos: int) -> tuple[list[tuple[str, Any, bool]] | None, int, bool]:
        text = self.text
        stripped = pos + len(text[pos:]) - len(text[pos:].lstrip(" \t\r\n"))
        if text.startswith("/*", stripped):
            end = text.find("*/", stripped + 2)
            if end < 0:
                self.fail(pos, "unclosed comment")
            rest = end + 2
            if text.startswith(" -}}", rest):
                return None, rest + 4, True
            if text.startswith("}}", rest):
                return None, rest + 2, False
            self.fail(pos, "comment ends before closing delimiter")
        tokens: list[tuple[str, Any, bool]] = []
        spaced = False
        while True:
            if pos >= len(text):
                self.fail(pos, "unclosed action")
            if text.startswith("}}", pos):
                return tokens, pos + 2, False
            if text.startswith("-}}", pos) and pos > 0 and text[pos - 1] in " \t\r\n":
                return tokens, pos + 3, True
            m = _ACTION_TOKEN.match(text, pos)
            if not m:
                self.fail(pos, f"unexpected {text[pos]!r} in command")
            kind, raw = m.lastgroup or "", m.group()
            if kind == "number" and raw[0] in "+-" and tokens and tokens[-1][0] not in ("punct", "decl", "assign"):
                self.fail(pos, f"unexpected {raw[0]!r} in operand")
            if kind != "ws":
                # A field right after an operand (no space) continues it: `$x.a`, `(pipe).b`.
                tokens.append((kind, self.value(kind, raw, pos), spaced))
            spaced = kind == "ws"
            pos = m.end()

    def unquote(self, body: str, pos: int) -> str:
        try:
            return unquote(body)
        except ValueError as e:
            self.fail(pos, f"invalid syntax in quoted string: {e}")

    def value(self, kind: str, raw: str, pos: int) -> Any:
        if kind == "string":
            return raw[1:-1] if raw[0] == "`" else self.unquote(raw[1:-1], pos)
        if kind == "char":
            return ord(self.unquote(raw[1:-1], pos))
        if kind == "number":
            s = raw.replace("_", "")
            try:
                if re.match(r"[-+]?0[xXbBoO]", s):
                    return int(s, 0)
                return float(s) if any(c in s for c in ".eE") else int(s)
            except ValueError:
                self.fail(pos, f"bad number syntax: {raw}")
        return raw



class _Commands:
    """Pipelines inside one action: declarations, commands split by |, operands and field chains."""

    def __init__(self, name: str, funcs: Container[str]) -> None:
        self.name, self.funcs = name, funcs

    def fail(self, line: int, message: str) -> NoReturn:
        raise TemplateError(f"template: {self.name}:{line}: {message}")

    def pipeline(self, tokens: list[tuple[str, Any, bool]], line: int, *, allow_decl: bool = False,
                 range_decl: bool = False) -> Pipe:
        decl: list[str] = []
        assign = False
        if allow_decl and tokens and tokens[0][0] == "var":
            names, j = [tokens[0][1]], 1
            if range_decl and len(tokens) > 2 and tokens[1][:2] == ("punct", ",") and tokens[2][0] == "var":
                names, j = [tokens[0][1], tokens[2][1]], 3
            if j < len(tokens) and tokens[j][0] in ("decl", "assign"):
                decl, assign, tokens = names, tokens[j][0] == "assign", tokens[j + 1:]
        cmds: list[list[Any]] = [[]]
        pos = 0
        while pos < len(tokens):
            kind, value, _ = tokens[pos]
            if (kind, value) == ("punct", "|"):
                if not cmds[-1]:
                    self.fail(line, "missing command before '|'")
                cmds.append([])
                pos += 1
                continue
            node, pos = self.operand(tokens, pos, line)
            cmds[-1].append(node)
        if not cmds[-1]:
            self.fail(line, "missing value for command")
        return Pipe(decl, assign, cmds)

    def operand(self, tokens: list[tuple[str, Any, bool]], pos: int, line: int) -> tuple[Any, int]:
        kind, value, _ = tokens[pos]
        pos += 1
        if kind == "field":
            node: Any = ("field", [value[1:]])
        elif kind == "dot":
            node = ("dot",)
        elif kind == "var":
            node = ("var", value, [])
        elif kind in ("string", "char", "number"):
            node = ("lit", value)
        elif kind == "ident":
            if value in ("true", "false"):
                node = ("lit", value == "true")
            elif value == "nil":
                node = ("nil",)
            elif value in KEYWORDS:
                return self.fail(line, f"unexpected {value!r} in command")
            elif value not in self.funcs:
                return self.fail(line, f'function "{value}" not defined')
            else:
                node = ("func", value)
        elif (kind, value) == ("punct", "("):
            depth, j = 1, pos
            while j < len(tokens) and depth:
                depth += {"(": 1, ")": -1}.get(tokens[j][1], 0) if tokens[j][0] == "punct" else 0
                j += 1
            if depth:
                self.fail(line, "unclosed left paren")
            node = ("pipe", self.pipeline(tokens[pos:j - 1], line), [])
            pos = j
        else:
            return self.fail(line, f"unexpected {value!r} in operand")
        fields: list[str] = []
        while pos < len(tokens) and tokens[pos][0] == "field" and not tokens[pos][2]:
            fields.append(tokens[pos][1][1:])
            pos += 1
        if fields:
            if node[0] == "field":
                node = ("field", node[1] + fields)
            elif node[0] in ("var", "pipe"):
                node = (node[0], node[1], fields)
            elif node[0] == "dot":
                node = ("field", fields)
            else:
                self.fail(line, f"unexpected field after {node[0]}")
        return node, pos


class Parser(_Commands):
    """The action tree: text, actions and if/with/range blocks up to their {{end}}."""

    def __init__(self, name: str, text: str, funcs: Container[str]) -> None:
        super().__init__(name, funcs)
        self.items = _Lexer(name, text).items()
        self.i = 0

    def parse(self) -> list[Any]:
        nodes, end = self.list_until(set(), 0)
        if end is not None:
            self.fail(end[1], f"unexpected {{{{{end[0]}}}}}")
        return nodes

    def list_until(self, stops: set[str], line: int) -> tuple[list[Any], tuple[str, int, list[Any]] | None]:
        """Nodes up to one of the `stops` keywords ("end", "else"), returned with that keyword's tokens."""
        nodes: list[Any] = []
        while self.i < len(self.items):
            kind, value, ln = self.items[self.i]
            self.i += 1
            if kind == "text":
                nodes.append(value)
                continue
            tokens = value
            if not tokens:
                self.fail(ln, "missing value for command")
            head = tokens[0][1] if tokens[0][0] == "ident" else None
            if head in ("end", "else"):
                if head not in stops:
                    self.fail(ln, f"unexpected {{{{{head}}}}}")
                return nodes, (head, ln, tokens[1:])
            if head in ("if", "with", "range"):
                nodes.append(self.branch(head, tokens[1:], ln))
            elif head in ("break", "continue"):
                if len(tokens) > 1:
                    self.fail(ln, f"unexpected token in {{{{{head}}}}}")
                nodes.append((head, ln))
            elif head in ("define", "template", "block"):
                self.fail(ln, f"{{{{{head}}}}} is not supported in notification templates")
            else:
                nodes.append(Action(self.pipeline(tokens, ln, allow_decl=True), ln))
        if stops:
            self.fail(line, "unexpected EOF")
        return nodes, None

    def branch(self, kind: str, tokens: list[tuple[str, Any, bool]], line: int) -> Branch:
        node = Branch(kind, self.pipeline(tokens, line, allow_decl=True, range_decl=kind == "range"), line=line)
        node.body, end = self.list_until({"end", "else"}, line)
        assert end is not None
        word, ln, rest = end
        if word == "else":
            if rest and rest[0][:2] == ("ident", kind) and kind in ("if", "with"):
                # `{{else if x}}` is an `if` nested in the else part, sharing the outer {{end}}.
                node.orelse = [self.branch(kind, rest[1:], ln)]
                return node
            if rest:
                self.fail(ln, "unexpected tokens after {{else}}")
            node.orelse, end = self.list_until({"end"}, line)
            assert end is not None
            word, ln, rest = end
        if rest:
            self.fail(ln, "unexpected tokens after {{end}}")
        return node


def parse(name: str, text: str, funcs: Container[str]) -> list[Any]:
    return Parser(name, text, funcs).parse()
