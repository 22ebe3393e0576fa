"""Calico selector syntax and semantics (bgpd.config.selector), as libcalico-go's rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.config.selector import (
    All,
    And,
    Has,
    InSet,
    LabelOp,
    LabelTest,
    Not,
    NotInSet,
    Or,
    SelectorError,
    SelectorNode,
    parse_selector,
)
from bgpd.errors import BgpdError

RR = {"route-reflector": "true", "zone": "a", "kubernetes.io/hostname": "node-1"}
PLAIN = {"zone": "b"}
EMPTY: dict[str, str] = {}

# (selector, labels, expected) -- the semantics table of libcalico-go ast.go
MATCH_CASES = [
    ("", EMPTY, True),  # empty selector == all()
    ("   ", RR, True),
    ("all()", EMPTY, True),
    ("all( )", RR, True),
    ("global()", PLAIN, True),
    ("route-reflector == 'true'", RR, True),
    ('route-reflector == "true"', PLAIN, False),  # absent label: == is false
    ("route-reflector != 'true'", RR, False),
    ("route-reflector != 'true'", PLAIN, True),  # absent label: != is true
    ("zone != 'b'", PLAIN, False),
    ("has(route-reflector)", RR, True),
    ("has( route-reflector )", PLAIN, False),
    ("!has(route-reflector)", PLAIN, True),
    ("!has(route-reflector)", RR, False),
    ("!!has(route-reflector)", RR, True),  # leading !s collapse
    ("zone in {'a', 'c'}", RR, True),
    ("zone in {'a', 'c'}", PLAIN, False),
    ("zone in {}", RR, False),
    ("zone in {'a',}", RR, True),  # trailing comma accepted
    ("missing in {'a'}", RR, False),
    ("zone not in {'a'}", RR, False),
    ("zone not in {'a'}", PLAIN, True),
    ("missing not in {'a'}", RR, True),  # absent label: not in is true
    ("kubernetes.io/hostname == 'node-1'", RR, True),
    ("kubernetes.io/hostname contains 'de-'", RR, True),
    ("kubernetes.io/hostname contains 'x'", RR, False),
    ("missing contains ''", RR, False),
    ("kubernetes.io/hostname starts with 'node'", RR, True),
    ("kubernetes.io/hostname starts  with 'x'", RR, False),
    ("kubernetes.io/hostname ends with '-1'", RR, True),
    ("kubernetes.io/hostname ends with 'node'", RR, False),
    ("zone == 'a' && has(route-reflector)", RR, True),
    ("zone == 'a' && has(route-reflector)", PLAIN, False),
    ("zone == 'b' || has(route-reflector)", PLAIN, True),
    ("zone == 'b' || has(route-reflector)", EMPTY, False),
    # && binds tighter than ||
    ("zone == 'b' || zone == 'a' && has(nope)", PLAIN, True),
    ("(zone == 'b' || zone == 'a') && has(nope)", PLAIN, False),
    ("!(zone == 'a' || zone == 'b')", EMPTY, True),
    ("!(zone == 'a' || zone == 'b')", PLAIN, False),
    ("((((zone=='b'))))", PLAIN, True),
    ("zone=='b'&&!has(route-reflector)", PLAIN, True),
    ("\tzone\t==\t'b'\t", PLAIN, True),
    ("""quote == 'say "hi"'""", {"quote": 'say "hi"'}, True),
    ("""quote == "it's" """, {"quote": "it's"}, True),
    ("x == ''", {"x": ""}, True),
    ("x != ''", {"x": ""}, False),
]


@pytest.mark.parametrize(("text", "labels", "expected"), MATCH_CASES)
def test_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_selector(text).matches(labels) is expected


# (selector, position of the error, a fragment of the message)
ERROR_CASES = [
    ("foo(x)", 0, "unknown function 'foo'"),
    ("has(a) && bar()", 10, "unknown function 'bar'"),
    ("a = 'b'", 2, "expected '=='"),
    ("a & b", 2, "expected '&&'"),
    ("a | b", 2, "expected '||'"),
    ("a", 1, "expected an operator"),
    ("a == ", 5, "expected a quoted string"),
    ("a == b", 5, "expected a quoted string"),
    ("a == 'b", 5, "unterminated string"),
    ('a == "b', 5, "unterminated string"),
    ("a is 'b'", 2, "was expecting an operator"),
    ("a starts 'b'", 2, "was expecting an operator"),
    ("a not 'b'", 2, "was expecting an operator"),
    ("a in 'b'", 5, "set literal"),
    ("a in {'b'", 9, "expected '}'"),
    ("a in {'b' 'c'}", 10, "expected '}'"),
    ("(a == 'b'", 9, "expected ')'"),
    ("a == 'b')", 8, "unexpected ')'"),
    ("a == 'b' c == 'd'", 9, "unexpected label 'c'"),
    ("has()", 4, "no label name"),
    ("has(a", 5, "no closing ')'"),
    ("all(x)", 4, "no closing ')' after all("),
    ("&& a == 'b'", 0, "unexpected '&&'"),
    ("a == 'b' &&", 11, "unexpected end of selector"),
    ("!", 1, "unexpected end of selector"),
    ("a == 'b' ; b == 'c'", 9, "unexpected character ';'"),
    ("has (a)", 0, "unknown function 'has'"),  # as in Calico: has( must be written together
    ("()", 1, "unexpected ')'"),
    ("x" * 513 + " == 'a'", 0, "longer than 512"),
    ("(" * 101 + "all()" + ")" * 101, 100, "nested deeper"),
]


@pytest.mark.parametrize(("text", "position", "fragment"), ERROR_CASES)
def test_errors_name_position_and_reason(text: str, position: int, fragment: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_selector(text)
    err = info.value
    assert isinstance(err, BgpdError)
    assert err.position == position
    assert fragment in err.message
    assert f"position {position}" in str(err)
    assert err.text == text


def test_ast_shape() -> None:
    sel = parse_selector("!has(a) && (b in {'x', 'y'} || c not in {'z'}) && d starts with 'p'")
    assert sel.root == And(
        operands=(
            Not(operand=Has(label="a")),
            Or(
                operands=(
                    InSet(label="b", values=frozenset({"x", "y"})),
                    NotInSet(label="c", values=frozenset({"z"})),
                )
            ),
            LabelTest(label="d", op=LabelOp.STARTS_WITH, value="p"),
        )
    )
    assert parse_selector("").root == All()
    assert parse_selector("global()").root == All()


def test_ast_is_frozen() -> None:
    sel = parse_selector("a == 'b'")
    with pytest.raises(AttributeError):
        sel.root.label = "c"  # type: ignore[misc, union-attr]


def test_canonical_string() -> None:
    assert str(parse_selector("a=='b'&&!has(c)")) == '(a == "b" && !has(c))'
    assert str(parse_selector("""q == 'x"y'""")) == """q == 'x"y'"""
    assert str(parse_selector("z in {'b','a'}")) == 'z in {"a", "b"}'


# ---- property: printing a selector and parsing it back gives one with the same meaning ------

_KEYS = st.sampled_from(["a", "b", "zone", "k8s.io/role", "x-y_z"])
_VALUES = st.text(alphabet="abxy- _.:", max_size=4)


def _leaf() -> st.SearchStrategy[SelectorNode]:
    return st.one_of(
        st.just(All()),
        st.builds(lambda k: Has(label=k), _KEYS),
        st.builds(
            lambda k, op, v: LabelTest(label=k, op=op, value=v),
            _KEYS,
            st.sampled_from(list(LabelOp)),
            _VALUES,
        ),
        st.builds(lambda k, vs: InSet(label=k, values=vs), _KEYS, st.frozensets(_VALUES)),
        st.builds(lambda k, vs: NotInSet(label=k, values=vs), _KEYS, st.frozensets(_VALUES)),
    )


_NODES: st.SearchStrategy[SelectorNode] = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        st.builds(lambda n: Not(operand=n), inner),
        st.builds(lambda ns: And(operands=tuple(ns)), st.lists(inner, min_size=2, max_size=3)),
        st.builds(lambda ns: Or(operands=tuple(ns)), st.lists(inner, min_size=2, max_size=3)),
    ),
    max_leaves=8,
)
_LABELS = st.dictionaries(_KEYS, _VALUES, max_size=5)


@settings(max_examples=300, deadline=None)
@given(_NODES, st.lists(_LABELS, min_size=1, max_size=5))
def test_print_parse_roundtrip_preserves_meaning(
    node: SelectorNode, label_sets: list[dict[str, str]]
) -> None:
    reparsed = parse_selector(str(node))
    for labels in label_sets:
        assert reparsed.matches(labels) is node.matches(labels)
    # Printing is a fixed point after one parse.
    assert str(parse_selector(str(reparsed))) == str(reparsed)
