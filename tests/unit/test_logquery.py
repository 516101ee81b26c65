"""The contract's log query language: parsing, syntax errors with positions, safe LogsQL."""

from __future__ import annotations

import pytest

from hybridcloud.observability.logquery import (
    And,
    Not,
    Or,
    QuerySyntaxError,
    Term,
    parse,
    render,
    scoped,
)


def test_contract_example_parses_to_two_exact_terms() -> None:
    assert parse("level:error AND namespace:production") == And(
        (Term("level", "error"), Term("namespace", "production")))


def test_and_binds_tighter_than_or_and_juxtaposition_means_and() -> None:
    assert parse("pod:a OR pod:b container:c") == Or(
        (Term("pod", "a"), And((Term("pod", "b"), Term("container", "c")))))


def test_parentheses_not_phrases_and_bare_words() -> None:
    node = parse('NOT (level:info OR level:debug) "connection refused" timeout')
    assert node == And((Not(Or((Term("level", "info"), Term("level", "debug")))),
                        Term("message", "connection refused", phrase=True),
                        Term("message", "timeout")))


def test_rendering_quotes_every_value_and_maps_message_to_msg() -> None:
    assert render(parse('level:ERROR namespace:prod "db down"')) == \
        '(level:="error" AND namespace:="prod" AND _msg:"db down")'


def test_wildcards_become_anchored_regexes_of_escaped_literals() -> None:
    assert render(parse("pod:api-*.x")) == r'pod:~"^api\\-.*\\.x$"'
    assert render(parse("conn*")) == '_msg:~"conn.*"'


def test_a_quoted_star_is_a_literal_not_a_wildcard() -> None:
    assert render(parse('message:"50*"')) == '_msg:"50*"'


@pytest.mark.parametrize(("query", "position", "reason"), [
    ("level:error AND", 16, "expected a term"),
    ("(level:error", 13, "missing ')'"),
    ("level:error)", 12, "unexpected ')'"),
    ('pod:"abc', 5, "unterminated quoted phrase"),
    ("secret:x", 1, "unknown field 'secret'"),
    ("level:", 7, "missing value"),
    ("", 1, "empty query"),
    ("OR pod:a", 1, "expected a term"),
])
def test_syntax_errors_name_the_position(query: str, position: int, reason: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(query)
    assert caught.value.position == position
    assert reason in str(caught.value)


def test_store_syntax_in_values_stays_inside_one_quoted_string() -> None:
    # A pipe, a quote and another field in a value cannot end the filter or add a stage.
    rendered = render(parse(r'pod:"x\" | delete | tenant:*"'))
    assert rendered == r'pod:="x\" | delete | tenant:*"'
    for field in ("_msg", "tenant", "_stream"):
        with pytest.raises(QuerySyntaxError, match="unknown field"):
            parse(f"{field}:x")


def test_tenant_scope_wraps_the_whole_caller_expression() -> None:
    assert scoped(parse("pod:a OR pod:b"), "acme") == \
        'tenant:="acme" AND ((pod:="a" OR pod:="b"))'


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(QuerySyntaxError, match="nested deeper"):
        parse("(" * 40 + "pod:a" + ")" * 40)
