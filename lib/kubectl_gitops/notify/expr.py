"""A parser for the expr-lang (github.com/expr-lang/expr) subset that trigger conditions use: a small
Pratt parser with expr's precedences. Nodes are tuples ("kind", ...); exprrun.py evaluates them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from kubectl_gitops.notify.govalues import unquote

Node = tuple[Any, ...]
T = TypeVar("T")

# expr-lang's binary operators: precedence and whether they associate to the right.
BINARY = {"or": 10, "||": 10, "and": 15, "&&": 15, "==": 20, "!=": 20, "<": 20, ">": 20, "<=": 20, ">=": 20,
          "in": 20, "matches": 20, "contains": 20, "startsWith": 20, "endsWith": 20, "..": 25, "+": 30, "-": 30,
          "*": 60, "/": 60, "%": 60, "**": 100, "^": 100, "??": 500}
RIGHT_ASSOC = {"**", "^"}
UNARY = {"not": 50, "!": 50, "-": 90, "+": 90}
WORD_OPS = {"and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith"}
NEGATABLE = {"in", "matches", "contains", "startsWith", "endsWith"}
# Names that are values, not variables.
NAMED_LITERALS = {"true": True, "false": False, "nil": None}
# Builtins whose second argument is a predicate evaluated per element (# is the element).
PREDICATE_BUILTINS = {"all", "any", "none", "one", "filter", "map", "count", "find", "findIndex", "sum"}

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>0[xX][0-9a-fA-F_]+|(?:\d[\d_]*)?\.\d[\d_]*(?:[eE][-+]?\d+)?|\d[\d_]*(?:[eE][-+]?\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<ident>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<op>\?\?|\?\.|\.\.|==|!=|<=|>=|&&|\|\||\*\*|[-+*/%^<>!?:.,()\[\]{}\#|])
""", re.VERBOSE)


class ExprSyntaxError(Exception):
    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} at column {column}")
        self.column = column


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, ident, op, eof
    value: Any
    column: int  # 1-based


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ExprSyntaxError(f"unexpected character {text[pos]!r}", pos + 1)
        kind, raw = m.lastgroup or "", m.group()
        if kind == "number":
            # "1..3" is a range, not the float "1." followed by ".3".
            tokens.append(Token("number", _number(raw, pos + 1), pos + 1))
        elif kind == "string":
            tokens.append(Token("string", _unquote(raw, pos + 1), pos + 1))
        elif kind == "ident":
            tokens.append(Token("op" if raw in WORD_OPS else "ident", raw, pos + 1))
        elif kind == "op":
            tokens.append(Token("op", raw, pos + 1))
        pos = m.end()
    tokens.append(Token("eof", None, len(text) + 1))
    return tokens


def _number(raw: str, col: int) -> int | float:
    s = raw.replace("_", "")
    try:
        if s[:2].lower() == "0x":
            return int(s, 16)
        return float(s) if any(c in s for c in ".eE") else int(s)
    except ValueError:
        raise ExprSyntaxError(f"invalid number {raw}", col) from None


def _unquote(raw: str, col: int) -> str:
    if raw[0] == "`":
        return raw[1:-1]
    try:
        return unquote(raw[1:-1])
    except ValueError as e:
        raise ExprSyntaxError(str(e), col) from None


def _binary_operator(tok: Token, after: Token) -> tuple[str, int, bool] | None:
    """The binary operator `tok` starts, its precedence, and whether it is negated (`not in`,
    `not matches`, ...: two tokens); None when it starts none."""
    if tok.kind != "op":
        return None
    negated = tok.value == "not" and after.kind == "op" and after.value in NEGATABLE
    op = after.value if negated else tok.value
    prec = BINARY.get(op)
    return None if prec is None else (op, prec, negated)


class TokenStream:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def is_op(self, value: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok.kind == "op" and tok.value == value

    def expect(self, value: str) -> Token:
        if not self.is_op(value):
            self.fail(f"expected {value!r}")
        return self.next()

    def accept(self, value: str) -> bool:
        """Consume the operator `value` if it is next."""
        if not self.is_op(value):
            return False
        self.next()
        return True

    def delimited(self, close: str, item: Callable[[], T]) -> list[T]:
        """Comma-separated items up to `close` (a trailing comma allowed), consuming `close`."""
        items: list[T] = []
        while not self.is_op(close):
            items.append(item())
            if not self.accept(","):
                break
        self.expect(close)
        return items

    def fail(self, message: str, tok: Token | None = None) -> NoReturn:
        tok = tok or self.peek()
        shown = "end of expression" if tok.kind == "eof" else f"{tok.value!r}"
        raise ExprSyntaxError(f"{message}, found {shown}", tok.column)


class Parser(TokenStream):
    """expr-lang's grammar over the tokens: unary and binary operators by precedence, the ternary,
    primaries, and postfix member, index, slice and call chains."""

    def expression(self, precedence: int) -> Node:
        tok = self.peek()
        if tok.kind == "op" and tok.value in UNARY:
            self.next()
            left: Node = ("unary", tok.value, self.expression(UNARY[tok.value]))
        else:
            left = self.postfix(self.primary())
        while (binary := _binary_operator(self.peek(), self.peek(1))) is not None and binary[1] >= precedence:
            op, prec, negated = binary
            self.i += 2 if negated else 1
            right = self.expression(prec if op in RIGHT_ASSOC else prec + 1)
            left = ("binary", op, left, right)
            if negated:
                left = ("unary", "not", left)
        if precedence == 0 and self.accept("?"):
            then = self.expression(0)
            self.expect(":")
            left = ("cond", left, then, self.expression(0))
        return left

    def primary(self) -> Node:
        tok = self.next()
        if tok.kind in ("number", "string"):
            return ("lit", tok.value)
        if tok.kind == "ident":
            if tok.value in NAMED_LITERALS:
                return ("lit", NAMED_LITERALS[tok.value])
            if self.is_op("("):
                return self.call(("name", tok.value), builtin=tok.value)
            return ("name", tok.value)
        if tok.kind == "op":
            if tok.value == "(":
                node = self.expression(0)
                self.expect(")")
                return node
            if tok.value == "[":
                return ("array", self.delimited("]", lambda: self.expression(0)))
            if tok.value == "{":
                return ("map", self.delimited("}", self.map_entry))
            if tok.value == "#":
                return ("pointer",)
            if tok.value == "." and self.peek().kind == "ident":
                # `.status` inside a predicate is `#.status`.
                return ("member", ("pointer",), ("lit", self.next().value), False)
        return self.fail("unexpected token", tok)

    def map_entry(self) -> tuple[Node, Node]:
        key_tok = self.next()
        if key_tok.kind in ("ident", "string", "number"):
            key: Node = ("lit", key_tok.value)
        elif key_tok.kind == "op" and key_tok.value == "(":
            key = self.expression(0)
            self.expect(")")
        else:
            self.fail("a map key must be a name, a string or a number", key_tok)
        self.expect(":")
        return key, self.expression(0)

    def call(self, callee: Node, builtin: str | None = None) -> Node:
        self.expect("(")
        args: list[Node] = []
        while not self.is_op(")"):
            if builtin in PREDICATE_BUILTINS and len(args) == 1:
                # the predicate, `{...}` or bare, is evaluated per element
                braced = self.accept("{")
                args.append(("closure", self.expression(0)))
                if braced:
                    self.expect("}")
            else:
                args.append(self.expression(0))
            if not self.accept(","):
                break
        self.expect(")")
        return ("call", callee, args)

    def postfix(self, node: Node) -> Node:
        optional_chain = False
        while True:
            if self.is_op(".") or self.is_op("?."):
                optional = self.next().value == "?."
                optional_chain |= optional
                if optional and self.is_op("["):
                    node = self.index(node, optional=True)
                    continue
                name = self.next()
                if name.kind not in ("ident", "op") or not isinstance(name.value, str) or not name.value.isidentifier():
                    self.fail("expected a field name after '.'", name)
                node = ("member", node, ("lit", name.value), optional)
                if self.is_op("("):
                    node = self.call(node)
            elif self.is_op("["):
                node = self.index(node, optional=False)
            else:
                break
        return ("chain", node) if optional_chain else node

    def index(self, node: Node, *, optional: bool) -> Node:
        self.expect("[")
        lo = None if self.is_op(":") else self.expression(0)
        if lo is not None and not self.is_op(":"):
            self.expect("]")
            return ("member", node, lo, optional)
        self.expect(":")
        hi = None if self.is_op("]") else self.expression(0)
        self.expect("]")
        return ("slice", node, lo, hi)


def parse(text: str) -> Node:
    """The syntax tree of an expression; ExprSyntaxError (with a 1-based column) when it is invalid."""
    parser = Parser(text)
    if parser.peek().kind == "eof":
        parser.fail("empty expression")
    node = parser.expression(0)
    if parser.peek().kind != "eof":
        parser.fail("unexpected token")
    return node
