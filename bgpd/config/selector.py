"""Calico's label-selector language: parse once, evaluate against label maps many times.

Role: the selectors of Calico resources (BGPPeer `nodeSelector`/`peerSelector`, and the like)
with the grammar and the meaning of libcalico-go's `lib/selector` (tokenizer + parser + ast):

    or_expr   := and_expr ("||" and_expr)*
    and_expr  := operation ("&&" operation)*
    operation := "!"* ( "has(" label ")" | "all()" | "global()" | "(" or_expr ")"
                      | label op string | label ("in" | "not in") set )
    set       := "{" [string ("," string)* [","]] "}"
    op        := "==" | "!=" | "contains" | "starts with" | "ends with"
    label     := [a-zA-Z0-9_./-]{1,512}
    string    := '...' | "..."        (no escapes: a quote ends the string, as in Calico)

Semantics (libcalico-go ast.go): `==`, `in`, `contains`, `starts with`, `ends with` and `has()`
are false when the label is absent; `!=` and `not in` are *true* when it is absent; `all()` and
`global()` match everything. `&&` binds tighter than `||`.

The empty (or all-blank) selector parses to `all()`, matching every label set: that is what
libcalico-go's parser does (`parseRoot`: EOF first -> AllNode). Callers that give "no selector"
a different meaning (a BGPPeer with no `node` and no `nodeSelector` is a *global* peer) decide so
before parsing; this module only states what the text means.

Invariants: the AST is made of frozen dataclasses and evaluated by plain recursion, never `eval`.
Anything the Calico parser rejects is a `SelectorError` carrying the 0-based character position
of the offending token; in particular an unknown function such as `foo(x)` is an error, because
`foo` then reads as a label that is not followed by an operator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from bgpd.errors import BgpdError

__all__ = [
    "All",
    "And",
    "Has",
    "InSet",
    "LabelOp",
    "LabelTest",
    "Not",
    "NotInSet",
    "Or",
    "Selector",
    "SelectorError",
    "SelectorNode",
    "parse_selector",
]

# libcalico-go tokenizer.go: LabelKeyMatcher = `[a-zA-Z0-9_./-]{1,512}`.
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-")
_MAX_LABEL_LEN = 512
_WHITESPACE = " \t"


class SelectorError(BgpdError):
    """A selector Calico would reject; `position` is the 0-based offset of the problem."""

    __slots__ = ("message", "position", "text")

    def __init__(self, text: str, position: int, message: str) -> None:
        self.text = text
        self.position = position
        self.message = message
        super().__init__(f"invalid selector {text!r} at position {position}: {message}")


# ---------------------------------------------------------------------------------------------
# AST


class LabelOp(Enum):
    """The binary label-vs-string operators."""

    EQ = "=="
    NE = "!="
    CONTAINS = "contains"
    STARTS_WITH = "starts with"
    ENDS_WITH = "ends with"


def _quote(value: str) -> str:
    # As libcalico-go prints: double quotes unless the value holds one.
    return f"'{value}'" if '"' in value else f'"{value}"'


@dataclass(frozen=True, slots=True, kw_only=True)
class All:
    """`all()` (and `global()`, which libcalico-go also evaluates to true)."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        return True

    def __str__(self) -> str:
        return "all()"


@dataclass(frozen=True, slots=True, kw_only=True)
class Has:
    """`has(label)`: the label is present, whatever its value."""

    label: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.label in labels

    def __str__(self) -> str:
        return f"has({self.label})"


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelTest:
    """`label <op> "value"`; `!=` is true when the label is absent, the others false."""

    label: str
    op: LabelOp
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label)
        if actual is None:
            return self.op is LabelOp.NE
        match self.op:
            case LabelOp.EQ:
                return actual == self.value
            case LabelOp.NE:
                return actual != self.value
            case LabelOp.CONTAINS:
                return self.value in actual
            case LabelOp.STARTS_WITH:
                return actual.startswith(self.value)
            case LabelOp.ENDS_WITH:
                return actual.endswith(self.value)

    def __str__(self) -> str:
        return f"{self.label} {self.op.value} {_quote(self.value)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class InSet:
    """`label in {"a", "b"}`: false when the label is absent."""

    label: str
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label)
        return actual is not None and actual in self.values

    def __str__(self) -> str:
        return f"{self.label} in {{{', '.join(_quote(v) for v in sorted(self.values))}}}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NotInSet:
    """`label not in {"a", "b"}`: true when the label is absent."""

    label: str
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label)
        return actual is None or actual not in self.values

    def __str__(self) -> str:
        return f"{self.label} not in {{{', '.join(_quote(v) for v in sorted(self.values))}}}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Not:
    """`!operand`."""

    operand: SelectorNode

    def matches(self, labels: Mapping[str, str]) -> bool:
        return not self.operand.matches(labels)

    def __str__(self) -> str:
        return f"!{self.operand}"


@dataclass(frozen=True, slots=True, kw_only=True)
class And:
    """`a && b && ...` (two or more operands)."""

    operands: tuple[SelectorNode, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(op.matches(labels) for op in self.operands)

    def __str__(self) -> str:
        return "(" + " && ".join(str(op) for op in self.operands) + ")"


@dataclass(frozen=True, slots=True, kw_only=True)
class Or:
    """`a || b || ...` (two or more operands)."""

    operands: tuple[SelectorNode, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return any(op.matches(labels) for op in self.operands)

    def __str__(self) -> str:
        return "(" + " || ".join(str(op) for op in self.operands) + ")"


SelectorNode = All | Has | LabelTest | InSet | NotInSet | Not | And | Or


@dataclass(frozen=True, slots=True, kw_only=True)
class Selector:
    """A parsed selector: the source text and its AST."""

    text: str
    root: SelectorNode

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when `labels` satisfy the selector (Calico's `Evaluate`)."""
        return self.root.matches(labels)

    def __str__(self) -> str:
        """The canonical form, in the style libcalico-go's `String()` prints."""
        return str(self.root)


# ---------------------------------------------------------------------------------------------
# Tokenizer (mirrors libcalico-go tokenizer.go, with positions)


class _Kind(Enum):
    LABEL = "label"
    STRING = "string"
    LBRACE = "'{'"
    RBRACE = "'}'"
    COMMA = "','"
    EQ = "'=='"
    NE = "'!='"
    IN = "'in'"
    NOT = "'!'"
    NOT_IN = "'not in'"
    CONTAINS = "'contains'"
    STARTS_WITH = "'starts with'"
    ENDS_WITH = "'ends with'"
    ALL = "'all()'"
    HAS = "'has()'"
    LPAREN = "'('"
    RPAREN = "')'"
    AND = "'&&'"
    OR = "'||'"
    EOF = "end of selector"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Token:
    kind: _Kind
    pos: int
    value: str = ""

    def describe(self) -> str:
        if self.kind is _Kind.LABEL:
            return f"label {self.value!r}"
        if self.kind is _Kind.STRING:
            return f"string {_quote(self.value)}"
        return str(self.kind.value)


_SIMPLE = {
    "(": _Kind.LPAREN,
    ")": _Kind.RPAREN,
    "{": _Kind.LBRACE,
    "}": _Kind.RBRACE,
    ",": _Kind.COMMA,
}
_DOUBLE = {"==": _Kind.EQ, "!=": _Kind.NE, "&&": _Kind.AND, "||": _Kind.OR}
_LABEL_OPERATORS = (
    ("contains", _Kind.CONTAINS),
    ("starts", _Kind.STARTS_WITH),
    ("ends", _Kind.ENDS_WITH),
    ("not", _Kind.NOT_IN),
    ("in", _Kind.IN),
)
_WITH_OR_IN = {_Kind.STARTS_WITH: "with", _Kind.ENDS_WITH: "with", _Kind.NOT_IN: "in"}


def _skip_blanks(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WHITESPACE:
        i += 1
    return i


def _label_end(text: str, i: int) -> int:
    j = i
    while j < len(text) and text[j] in _LABEL_CHARS:
        j += 1
    return j


def _read_label(text: str, i: int) -> tuple[str, int]:
    end = _label_end(text, i)
    if end - i > _MAX_LABEL_LEN:
        raise SelectorError(text, i, f"label longer than {_MAX_LABEL_LEN} characters")
    return text[i:end], end


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while True:
        i = _skip_blanks(text, i)
        if i >= len(text):
            tokens.append(_Token(kind=_Kind.EOF, pos=i))
            return tokens
        ch = text[i]
        pair = text[i : i + 2]
        if ch in _SIMPLE:
            tokens.append(_Token(kind=_SIMPLE[ch], pos=i))
            i += 1
        elif ch in "\"'":
            end = text.find(ch, i + 1)
            if end < 0:
                raise SelectorError(text, i, "unterminated string")
            tokens.append(_Token(kind=_Kind.STRING, pos=i, value=text[i + 1 : end]))
            i = end + 1
        elif pair in _DOUBLE:
            tokens.append(_Token(kind=_DOUBLE[pair], pos=i))
            i += 2
        elif ch == "!":
            tokens.append(_Token(kind=_Kind.NOT, pos=i))
            i += 1
        elif ch in "=&|":
            raise SelectorError(text, i, f"expected {ch * 2!r}")
        elif tokens and tokens[-1].kind is _Kind.LABEL:
            # After a label only an operator may follow (tokenizer.go does the same), so a
            # word here is an operator keyword or an error.
            i = _read_label_operator(text, i, tokens)
        elif text.startswith("has(", i):
            j = _skip_blanks(text, i + 4)
            label, end = _read_label(text, j)
            if not label:
                raise SelectorError(text, j, "no label name in has( expression")
            end = _skip_blanks(text, end)
            if not text.startswith(")", end):
                raise SelectorError(text, end, "no closing ')' after has(")
            tokens.append(_Token(kind=_Kind.HAS, pos=i, value=label))
            i = end + 1
        elif text.startswith(("all(", "global("), i):
            name = "all" if text.startswith("all(", i) else "global"
            j = _skip_blanks(text, i + len(name) + 1)
            if not text.startswith(")", j):
                raise SelectorError(text, j, f"no closing ')' after {name}(")
            tokens.append(_Token(kind=_Kind.ALL, pos=i))
            i = j + 1
        else:
            label, end = _read_label(text, i)
            if not label:
                raise SelectorError(text, i, f"unexpected character {ch!r}")
            tokens.append(_Token(kind=_Kind.LABEL, pos=i, value=label))
            i = end


def _read_label_operator(text: str, i: int, tokens: list[_Token]) -> int:
    for word, kind in _LABEL_OPERATORS:
        if text.startswith(word, i):
            j = i + len(word)
            second = _WITH_OR_IN.get(kind)
            if second is not None:
                j = _skip_blanks(text, j)
                if not text.startswith(second, j):
                    break
                j += len(second)
            tokens.append(_Token(kind=kind, pos=i))
            return j
    label = tokens[-1].value
    raise SelectorError(
        text, i, f"unexpected characters after label {label!r}, was expecting an operator"
    )


# ---------------------------------------------------------------------------------------------
# Parser (recursive descent, same precedence as libcalico-go parser.go)

_STRING_OPS = {
    _Kind.EQ: LabelOp.EQ,
    _Kind.NE: LabelOp.NE,
    _Kind.CONTAINS: LabelOp.CONTAINS,
    _Kind.STARTS_WITH: LabelOp.STARTS_WITH,
    _Kind.ENDS_WITH: LabelOp.ENDS_WITH,
}


# Deeper nesting than this is no real selector; refusing it keeps recursion bounded.
_MAX_DEPTH = 100


class _Parser:
    __slots__ = ("depth", "i", "text", "tokens")

    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind is not _Kind.EOF:
            self.i += 1
        return tok

    def fail(self, tok: _Token, message: str) -> SelectorError:
        return SelectorError(self.text, tok.pos, message)

    def or_expr(self) -> SelectorNode:
        operands = [self.and_expr()]
        while self.peek().kind is _Kind.OR:
            self.take()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(operands=tuple(operands))

    def and_expr(self) -> SelectorNode:
        operands = [self.operation()]
        while self.peek().kind is _Kind.AND:
            self.take()
            operands.append(self.operation())
        return operands[0] if len(operands) == 1 else And(operands=tuple(operands))

    def operation(self) -> SelectorNode:
        # parser.go collapses any run of leading "!" into one boolean.
        negated = False
        while self.peek().kind is _Kind.NOT:
            self.take()
            negated = not negated
        node = self.positive_operation()
        return Not(operand=node) if negated else node

    def positive_operation(self) -> SelectorNode:
        tok = self.take()
        match tok.kind:
            case _Kind.HAS:
                return Has(label=tok.value)
            case _Kind.ALL:
                return All()
            case _Kind.LPAREN:
                self.depth += 1
                if self.depth > _MAX_DEPTH:
                    raise self.fail(tok, f"parentheses nested deeper than {_MAX_DEPTH}")
                node = self.or_expr()
                self.depth -= 1
                close = self.take()
                if close.kind is not _Kind.RPAREN:
                    raise self.fail(close, f"expected ')', found {close.describe()}")
                return node
            case _Kind.LABEL:
                return self.label_operation(tok)
            case _:
                raise self.fail(tok, f"unexpected {tok.describe()}")

    def label_operation(self, label: _Token) -> SelectorNode:
        op = self.take()
        if op.kind in _STRING_OPS:
            value = self.take()
            if value.kind is not _Kind.STRING:
                raise self.fail(value, f"expected a quoted string, found {value.describe()}")
            return LabelTest(label=label.value, op=_STRING_OPS[op.kind], value=value.value)
        if op.kind in (_Kind.IN, _Kind.NOT_IN):
            values = self.set_literal()
            if op.kind is _Kind.IN:
                return InSet(label=label.value, values=values)
            return NotInSet(label=label.value, values=values)
        if op.kind is _Kind.LPAREN:
            # `foo(x)`: Calico knows only has(), all() and global().
            raise self.fail(label, f"unknown function {label.value!r}")
        raise self.fail(
            op, f"expected an operator after label {label.value!r}, found {op.describe()}"
        )

    def set_literal(self) -> frozenset[str]:
        brace = self.take()
        if brace.kind is not _Kind.LBRACE:
            raise self.fail(brace, f"expected a set literal '{{', found {brace.describe()}")
        values: list[str] = []
        # parser.go accepts a trailing comma and the empty set.
        while self.peek().kind is _Kind.STRING:
            values.append(self.take().value)
            if self.peek().kind is not _Kind.COMMA:
                break
            self.take()
        close = self.take()
        if close.kind is not _Kind.RBRACE:
            raise self.fail(close, f"expected '}}', found {close.describe()}")
        return frozenset(values)


def parse_selector(text: str) -> Selector:
    """Parse Calico selector `text`; raise `SelectorError` naming the position of the problem.

    An empty or blank selector means `all()`, as in libcalico-go.
    """
    tokens = _tokenize(text)
    if tokens[0].kind is _Kind.EOF:
        return Selector(text=text, root=All())
    parser = _Parser(text, tokens)
    root = parser.or_expr()
    rest = parser.peek()
    if rest.kind is not _Kind.EOF:
        raise parser.fail(rest, f"unexpected {rest.describe()} after a complete expression")
    return Selector(text=text, root=root)
