"""Typed filter tree → canonical `$filter` text (the inverse of odata/filter_parser.py).

Used to echo a filter (logs, links) and by the round-trip property tests. The output parses back
to an equal tree: composite operands are always parenthesised, strings double their quotes, and
datetimes are written in ISO 8601 with their offset (`Z` for UTC).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from mailgraph.odata.ast import And, AnyEq, Call, Compare, Expr, ExtendedPropertyAny, Not, Or, Value


def print_filter(expr: Expr) -> str:
    """Render a filter tree as OData text.

    Args:
        expr: A filter tree (as parse_filter returns it).

    Returns:
        `$filter` text, not percent-encoded.
    """
    if isinstance(expr, Compare):
        return f"{expr.left.name} {expr.op} {print_literal(expr.right)}"
    if isinstance(expr, Call):
        return f"{expr.function}({expr.property.name},{_string(expr.argument)})"
    if isinstance(expr, AnyEq):
        return f"{expr.property.name}/any(c:c eq {_string(expr.value)})"
    if isinstance(expr, ExtendedPropertyAny):
        value = "" if expr.value is None else f" and ep/value eq {_string(expr.value)}"
        return f"singleValueExtendedProperties/any(ep:ep/id eq {_string(expr.prop_id)}{value})"
    if isinstance(expr, Not):
        inner = expr.operand
        # Standard OData binds `not` tighter than `eq`: parenthesise anything but a call.
        return (
            f"not {print_filter(inner)}"
            if isinstance(inner, Call | AnyEq | ExtendedPropertyAny)
            else f"not ({print_filter(inner)})"
        )
    word = "and" if isinstance(expr, And) else "or"
    return f"{_operand(expr.left)} {word} {_operand(expr.right)}"


def _operand(expr: Expr) -> str:
    text = print_filter(expr)
    return f"({text})" if isinstance(expr, And | Or) else text


def print_literal(value: Value) -> str:
    """Render one literal as OData writes it.

    Args:
        value: The literal.

    Returns:
        `'text'`, `true`, `null`, `42`, or `2024-01-02T03:04:05Z`.
    """
    v = value.value
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return _datetime(v)
    if isinstance(v, int | float):
        return repr(v)
    return _string(v)


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _datetime(v: datetime) -> str:
    offset = v.utcoffset() or timedelta(0)
    text = v.replace(tzinfo=None).isoformat()
    return text + ("Z" if offset == timedelta(0) else _offset(offset))


def _offset(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(offset) // timedelta(minutes=1)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
