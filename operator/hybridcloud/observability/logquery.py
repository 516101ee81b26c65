"""The contract's log query language, parsed into a small AST and rendered as LogsQL.

Grammar (``AND`` binds tighter than ``OR``; juxtaposition means ``AND``)::

    query   := or
    or      := and ("OR" and)*
    and     := unary (["AND"] unary)*
    unary   := "NOT" unary | "(" or ")" | term
    term    := [field ":"] (word | "quoted phrase")      field ∈ FIELDS; no field = message

A ``*`` inside a word is a wildcard. Nothing of the caller's text reaches the store unquoted:
every value is rendered as a LogsQL quoted string (exact match, phrase, or an anchored regular
expression built from escaped literal parts), and field names come from a fixed table, so a
query cannot smuggle pipes, other fields or store syntax. The tenant filter is added by
:func:`scoped` around the whole caller expression.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# Contract field → field name in the store.
FIELDS = {"level": "level", "namespace": "namespace", "pod": "pod", "container": "container",
          "cluster": "cluster", "source": "source", "message": "_msg"}
MAX_QUERY_LENGTH = 2048
MAX_DEPTH = 32


class QuerySyntaxError(ValueError):
    """A malformed query; ``position`` is the 1-based character where the problem is."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.reason = message
        self.position = position


@dataclass(frozen=True)
class Term:
    field: str  # a key of FIELDS
    value: str
    phrase: bool = False  # quoted: a literal, `*` included


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = Term | Not | And | Or


@dataclass(frozen=True)
class _Token:
    kind: str  # "(", ")", "AND", "OR", "NOT", "TERM", "END"
    position: int  # 1-based
    field: str = ""
    value: str = ""
    phrase: bool = False


_WORD_END = set(" \t\r\n()\"")


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The phrase starting at the quote ``text[start]``; returns (value, index after it)."""
    out, i = [], start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if char == '"':
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise QuerySyntaxError("unterminated quoted phrase", start + 1)


def tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if char in "()":
            tokens.append(_Token(char, i + 1))
            i += 1
            continue
        start = i
        if char == '"':
            value, i = _quoted(text, i)
            tokens.append(_Token("TERM", start + 1, "message", value, True))
            continue
        while i < len(text) and text[i] not in _WORD_END and text[i] != ":":
            i += 1
        word = text[start:i]
        if word in ("AND", "OR", "NOT") and (i >= len(text) or text[i] != ":"):
            tokens.append(_Token(word, start + 1))
            continue
        if i < len(text) and text[i] == ":":
            if word not in FIELDS:
                known = ", ".join(FIELDS)
                raise QuerySyntaxError(f"unknown field {word!r} (known: {known})", start + 1)
            i += 1
            if i < len(text) and text[i] == '"':
                value, i = _quoted(text, i)
                tokens.append(_Token("TERM", start + 1, word, value, True))
                continue
            value_start = i
            while i < len(text) and text[i] not in _WORD_END:
                i += 1
            value = text[value_start:i]
            if not value:
                raise QuerySyntaxError(f"missing value after {word}:", value_start + 1)
            tokens.append(_Token("TERM", start + 1, word, value))
            continue
        tokens.append(_Token("TERM", start + 1, "message", word))
    tokens.append(_Token("END", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens, self.index, self.depth = tokens, 0, 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Node:
        if self.peek().kind == "END":
            raise QuerySyntaxError("empty query", 1)
        node = self.or_()
        token = self.peek()
        if token.kind != "END":
            raise QuerySyntaxError(f"unexpected {token.kind!r}", token.position)
        return node

    def or_(self) -> Node:
        operands = [self.and_()]
        while self.peek().kind == "OR":
            self.take()
            operands.append(self.and_())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_(self) -> Node:
        operands = [self.unary()]
        while self.peek().kind in ("AND", "NOT", "(", "TERM"):
            if self.peek().kind == "AND":
                self.take()
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self) -> Node:
        token = self.take()
        if token.kind == "NOT":
            return Not(self.unary())
        if token.kind == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise QuerySyntaxError(f"parentheses nested deeper than {MAX_DEPTH}",
                                       token.position)
            node = self.or_()
            closing = self.take()
            if closing.kind != ")":
                raise QuerySyntaxError("missing ')' for the '(' at position "
                                       f"{token.position}", closing.position)
            self.depth -= 1
            return node
        if token.kind == "TERM":
            return Term(token.field, token.value, token.phrase)
        what = "end of query" if token.kind == "END" else repr(token.kind)
        raise QuerySyntaxError(f"expected a term, '(' or NOT but found {what}", token.position)


def parse(text: str) -> Node:
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(f"query longer than {MAX_QUERY_LENGTH} characters",
                               MAX_QUERY_LENGTH + 1)
    return _Parser(tokenize(text)).parse()


def quote(value: str) -> str:
    """A LogsQL quoted string holding exactly ``value`` (JSON escaping is LogsQL's)."""
    return json.dumps(value, ensure_ascii=False)


def _wildcard_regex(value: str, anchored: bool) -> str:
    body = ".*".join(re.escape(part) for part in value.split("*"))
    return f"^{body}$" if anchored else body


def _render_term(term: Term) -> str:
    field = FIELDS[term.field]
    value = term.value.lower() if term.field == "level" else term.value
    wildcard = "*" in value and not term.phrase
    if term.field == "message":
        if wildcard:
            return f"{field}:~{quote(_wildcard_regex(value, anchored=False))}"
        return f"{field}:{quote(value)}"  # LogsQL phrase filter: these words in this order
    if wildcard:
        return f"{field}:~{quote(_wildcard_regex(value, anchored=True))}"
    return f"{field}:={quote(value)}"


def render(node: Node) -> str:
    """``node`` as a LogsQL filter expression (fully parenthesised)."""
    if isinstance(node, Term):
        return _render_term(node)
    if isinstance(node, Not):
        return f"NOT ({render(node.operand)})"
    joiner = " AND " if isinstance(node, And) else " OR "
    return "(" + joiner.join(render(operand) for operand in node.operands) + ")"


def scoped(node: Node, tenant: str) -> str:
    """The caller's filter confined to one tenant's logs (added by the server, always)."""
    return f"tenant:={quote(tenant)} AND ({render(node)})"
