"""A parsed `$filter` (odata/ast.py) evaluated in memory, for the small collections read whole.

Message filters compile to SQL (store/sql/filters.py); folder lists (the children of one folder) and
the directory's users are read whole anyway, so their `$filter` is evaluated here on each row with the
same semantics: strings compare case-insensitively under Unicode case folding (as `mg_fold` does in
SQL), every predicate is two-valued (a null never equals a value, `ne` holds against null), and
`startswith`/`contains` on a null are false.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from mailgraph.odata.ast import And, Call, Compare, Expr, Not, Or

Getter = Callable[[tuple[str, ...]], object]
"""The value of a (canonical) property path on one row."""


def _fold(value: object) -> object:
    return value.casefold() if isinstance(value, str) else value


def matches(expr: Expr, get: Getter) -> bool:
    """Whether one row satisfies the filter."""
    if isinstance(expr, And):
        return matches(expr.left, get) and matches(expr.right, get)
    if isinstance(expr, Or):
        return matches(expr.left, get) or matches(expr.right, get)
    if isinstance(expr, Not):
        return not matches(expr.operand, get)
    if isinstance(expr, Call):
        value = get(expr.property.path)
        if not isinstance(value, str):
            return False
        text, needle = value.casefold(), expr.argument.casefold()
        return text.startswith(needle) if expr.function == "startswith" else needle in text
    if isinstance(expr, Compare):
        return _compare(expr, get)
    # Lambdas (`categories/any`, extended properties) exist only on messages, whose filters compile to
    # SQL; the folder and user resources declare no collection property, so their parser refuses them.
    return False


def _compare(expr: Compare, get: Getter) -> bool:
    left, right = _fold(get(expr.left.path)), _fold(expr.right.value)
    if expr.op == "eq":
        return left is not None and left == right
    if expr.op == "ne":
        return left is None or left != right
    if left is None or right is None or isinstance(left, bool) != isinstance(right, bool):
        return False
    if isinstance(left, datetime) != isinstance(right, datetime):
        return False
    try:
        if expr.op == "gt":
            return bool(left > right)  # type: ignore[operator]
        if expr.op == "ge":
            return bool(left >= right)  # type: ignore[operator]
        if expr.op == "lt":
            return bool(left < right)  # type: ignore[operator]
        return bool(left <= right)  # type: ignore[operator]
    except TypeError:  # the parser typed the literal; a mismatch left is simply not ordered
        return False
