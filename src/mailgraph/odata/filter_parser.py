"""`$filter` text → typed tree (odata/ast.py), checked against a resource's filterable properties.

Grammar (OData v4 subset Exchange evaluates, spec §2.9), lowest precedence first::

    or_expr   := and_expr ("or" and_expr)*
    and_expr  := not_expr ("and" not_expr)*
    not_expr  := "not" not_expr | primary
    primary   := "(" or_expr ")" | operand [cmp_op operand]
    operand   := literal | path | ("startswith" | "contains") "(" operand "," operand ")"
               | collection "/any(" var ":" var "eq" string ")"     (string collections only)

Keywords and property names are matched case-insensitively. `not` binds looser than a comparison
here (ODL binds it tighter); for boolean operands `not (a eq b)` and `(not a) eq b` agree, and the
looser reading also accepts the common `not subject eq 'x'`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, cast

from mailgraph.odata.ast import (
    And,
    AnyEq,
    Call,
    Compare,
    CompareOp,
    Expr,
    ExtendedPropertyAny,
    Not,
    Or,
    Property,
    Value,
)
from mailgraph.odata.errors import ODataError, bad_request, inefficient, invalid_filter
from mailgraph.odata.lexer import Token, tokenize
from mailgraph.odata.resources import EDM_NAMES, FieldSpec, Resource

MAX_NESTING: Final = 50
"""Parentheses plus `not` deeper than this are refused (bounds recursion, never RecursionError)."""
MAX_TERMS: Final = 100
"""Comparisons and calls per filter; with MAX_NESTING this bounds the tree depth to ~150."""

_OPS: Final[dict[str, CompareOp]] = {"eq": "eq", "ne": "ne", "gt": "gt", "ge": "ge", "lt": "lt", "le": "le"}
# `literal op property` is rewritten as `property flipped-op literal`.
_FLIP: Final[dict[CompareOp, CompareOp]] = {
    "eq": "eq",
    "ne": "ne",
    "gt": "lt",
    "ge": "le",
    "lt": "gt",
    "le": "ge",
}
_ODL_OP_NAMES: Final[dict[CompareOp, str]] = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
}
_FUNCTIONS: Final = frozenset({"startswith", "contains"})
# OData operators Exchange does not evaluate: Graph answers them with "invalid nodes" (spec §2.9).
_UNSUPPORTED_OPERATORS: Final = frozenset({"in", "has", "add", "sub", "mul", "div", "divby", "mod"})
_LITERAL_KINDS: Final = frozenset({"string", "int", "datetime", "enum"})
_LITERAL_EDM: Final = {
    "string": "Edm.String",
    "int": "Edm.Int32",
    "datetime": "Edm.DateTimeOffset",
    "bool": "Edm.Boolean",
    "enum": "Edm.Enum",
}


_LiteralValue = str | int | bool | datetime | tuple[str, str] | None


@dataclass(frozen=True, slots=True)
class _Literal:
    kind: str  # "string" | "int" | "datetime" | "enum" | "bool" | "null"
    value: _LiteralValue
    pos: int


_Operand = Property | _Literal | Call | AnyEq | ExtendedPropertyAny


def _split_and(tokens: list[Token]) -> list[list[Token]]:
    """Split a lambda body on `and` (no parentheses inside: Graph's extended-property filters have none)."""
    parts: list[list[Token]] = [[]]
    for token in tokens:
        if token.kind == "ident" and token.text.lower() == "and":
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


def parse_filter(text: str, resource: Resource) -> Expr:
    """Parse one `$filter` value.

    Args:
        text: The percent-decoded `$filter` value.
        resource: The resource whose properties may be used.

    Returns:
        The tree, with every property on the left of its comparison and every literal type-checked.

    Raises:
        ODataError: On syntax errors, unknown or non-filterable properties, unsupported constructs,
            type mismatches and over-complex filters (codes in odata/errors.py).
    """
    return _Parser(text, resource).parse()


class _Parser:
    def __init__(self, text: str, resource: Resource) -> None:
        self.text = text
        self.resource = resource
        self.tokens = tokenize(text)
        self.i = 0
        self.nesting = 0
        self.terms = 0

    # -- token helpers -------------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.peek()
        self.i += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token.kind == "ident" and token.text.lower() == word and self.peek(1).kind != "slash":
            self.i += 1
            return True
        return False

    def expect(self, kind: str, what: str) -> Token:
        token = self.peek()
        if token.kind != kind:
            raise self.syntax(f"{what} expected", token)
        return self.take()

    def syntax(self, what: str, token: Token) -> ODataError:
        return bad_request(f"{what} at position {token.pos} in '{self.text}'.")

    def enter(self) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise inefficient()

    # -- grammar -------------------------------------------------------------------------------

    def parse(self) -> Expr:
        expr = self.or_expr()
        if self.peek().kind != "end":
            raise self.syntax("')' or operator expected", self.peek())
        return expr

    def or_expr(self) -> Expr:
        left = self.and_expr()
        while self.keyword("or"):
            left = Or(left, self.and_expr())
        return left

    def and_expr(self) -> Expr:
        left = self.not_expr()
        while self.keyword("and"):
            left = And(left, self.not_expr())
        return left

    def not_expr(self) -> Expr:
        if self.keyword("not"):
            self.enter()
            operand = self.not_expr()
            self.nesting -= 1
            return Not(operand)
        return self.primary()

    def primary(self) -> Expr:
        if self.peek().kind == "lparen":
            self.take()
            self.enter()
            expr = self.or_expr()
            self.expect("rparen", "')'")
            self.nesting -= 1
            return expr
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise inefficient()
        left = self.operand()
        token = self.peek()
        if token.kind == "ident" and token.text.lower() in _OPS:
            self.take()
            return self.compare(_OPS[token.text.lower()], left, self.operand())
        if token.kind == "ident" and token.text.lower() in _UNSUPPORTED_OPERATORS:
            raise invalid_filter()
        return self.as_boolean(left, token)

    def operand(self) -> _Operand:
        token = self.peek()
        if token.kind in _LITERAL_KINDS:
            self.take()
            return _Literal(token.kind, cast(_LiteralValue, token.value), token.pos)
        if token.kind != "ident":
            raise self.syntax("Expression expected", token)
        word = token.text.lower()
        if word in ("true", "false", "null") and self.peek(1).kind != "slash":
            self.take()
            return (
                _Literal("null", None, token.pos)
                if word == "null"
                else _Literal("bool", word == "true", token.pos)
            )
        if self.peek(1).kind == "lparen":
            return self.call()
        return self.path()

    def path(self) -> Property | AnyEq | ExtendedPropertyAny:
        segments = [self.take().text]
        while self.peek().kind == "slash":
            self.take()
            token = self.expect("ident", "Property name")
            if self.peek().kind == "lparen":
                collection = self.resource.find_collection(segments)
                if token.text.lower() == "any" and collection is not None:
                    return self.any_eq(collection)
                if token.text.lower() == "any" and self.resource.has_extended(segments):
                    return self.extended_any()
                # `toRecipients/any(r: …)` and other lambdas or bound functions (spec §2.9 [field]).
                raise invalid_filter()
            segments.append(token.text)
        spec = self.field(segments)
        return Property(spec.path)

    def field(self, segments: list[str]) -> FieldSpec:
        resource = self.resource
        spec = resource.find_field(segments)
        if spec is not None:
            return spec
        if resource.find_property(segments[0]) is None:
            raise ODataError(
                resource.unknown_property_code,
                f"Could not find a property named '{segments[0]}' on type '{resource.type_name}'.",
            )
        # A real property Exchange cannot restrict on (body, toRecipients, categories, …).
        raise invalid_filter()

    def lambda_body(self) -> tuple[str, list[Token]]:
        """`(v: …)`: the range variable and the body's tokens (up to the matching `)`)."""
        self.take()  # (
        variable = self.expect("ident", "Range variable").text
        self.expect("colon", "':'")
        body: list[Token] = []
        depth = 0
        while not (self.peek().kind == "rparen" and depth == 0):
            token = self.take()
            if token.kind == "end":
                raise self.syntax("')'", token)
            depth += {"lparen": 1, "rparen": -1}.get(token.kind, 0)
            body.append(token)
        self.take()  # )
        return variable, body

    def extended_any(self) -> ExtendedPropertyAny:
        """`singleValueExtendedProperties/any(ep: ep/id eq '…' [and ep/value eq '…'])`, clauses in any order."""
        variable, body = self.lambda_body()
        clauses: dict[str, str] = {}
        for clause in _split_and(body):
            kinds = [t.kind for t in clause]
            if kinds != ["ident", "slash", "ident", "ident", "string"] or clause[0].text != variable:
                raise invalid_filter()
            name, op, literal = clause[2].text.lower(), clause[3].text.lower(), clause[4].value
            if name not in ("id", "value") or op != "eq" or name in clauses or not isinstance(literal, str):
                raise invalid_filter()
            clauses[name] = literal
        if "id" not in clauses:
            raise invalid_filter()  # Exchange restricts on a named property only
        return ExtendedPropertyAny(clauses["id"], clauses.get("value"))

    def any_eq(self, collection: str) -> AnyEq:
        """`any(v: v eq 'text')` after `collection/` (also `'text' eq v`); other bodies are not evaluated."""
        variable, body = self.lambda_body()
        if len(body) != 3 or body[1].kind != "ident" or body[1].text.lower() != "eq":
            raise invalid_filter()  # `ne`, functions, nested lambdas: no restriction Exchange evaluates
        literal, other = (body[2], body[0]) if body[0].kind == "ident" else (body[0], body[2])
        if other.kind != "ident" or other.text != variable or literal.kind != "string":
            raise invalid_filter()
        assert isinstance(literal.value, str)
        return AnyEq(Property((collection,)), literal.value)

    def call(self) -> Call:
        name = self.take().text.lower()
        if name not in _FUNCTIONS:
            # endswith, indexof, tolower, … : Graph answers "invalid nodes" (spec §2.9 [field]).
            raise invalid_filter()
        self.take()  # (
        self.enter()
        target = self.operand()
        self.expect("comma", "','")
        argument = self.operand()
        self.expect("rparen", "')'")
        self.nesting -= 1
        if isinstance(target, _Literal) and isinstance(argument, Property):
            raise invalid_filter()  # contains('x', subject): Exchange only searches property text
        if not (
            isinstance(target, Property) and isinstance(argument, _Literal) and argument.kind == "string"
        ):
            raise self.signature(name)
        spec = self.resource.find_field(target.path)
        if spec is None or spec.type != "string":
            raise self.signature(name)
        assert isinstance(argument.value, str)
        return Call("startswith" if name == "startswith" else "contains", target, argument.value)

    def signature(self, name: str) -> ODataError:
        return bad_request(
            f"No function signature for the function with name '{name}' matches the specified arguments. "
            f"The function signatures considered are: "
            f"{name}(Edm.String Nullable=true, Edm.String Nullable=true)."
        )

    def compare(self, op: CompareOp, left: _Operand, right: _Operand) -> Expr:
        if isinstance(left, AnyEq | ExtendedPropertyAny) or isinstance(right, AnyEq | ExtendedPropertyAny):
            raise invalid_filter()  # `categories/any(…) eq true`: no restriction Exchange evaluates
        if isinstance(left, Call) or isinstance(right, Call):
            return self.compare_call(op, left, right)
        if isinstance(left, _Literal) and isinstance(right, Property):
            left, right, op = right, left, _FLIP[op]
        if not (isinstance(left, Property) and isinstance(right, _Literal)):
            raise invalid_filter()  # property vs property, literal vs literal: not an Exchange restriction
        spec = self.resource.find_field(left.path)
        assert spec is not None
        return Compare(op, left, Value(self.literal_value(op, spec, right)))

    def compare_call(self, op: CompareOp, left: _Operand, right: _Operand) -> Expr:
        # `startswith(subject,'a') eq true` is valid OData; reduce it to the call or its negation.
        call, other = (left, right) if isinstance(left, Call) else (right, left)
        if not (isinstance(call, Call) and isinstance(other, _Literal) and other.kind == "bool"):
            raise invalid_filter()
        if op not in ("eq", "ne"):
            raise self.incompatible(op, "Edm.Boolean", "Edm.Boolean")
        return call if (op == "eq") == other.value else Not(call)

    def literal_value(
        self, op: CompareOp, spec: FieldSpec, lit: _Literal
    ) -> str | int | bool | datetime | None:
        if lit.kind == "null":
            if op not in ("eq", "ne"):
                raise self.incompatible(op, EDM_NAMES[spec.type], "null")
            return None
        if spec.type in ("bool", "enum") and op not in ("eq", "ne"):
            raise invalid_filter()  # Exchange has no ordering restriction on flags and enums
        if spec.type == "enum" and lit.kind in ("string", "enum"):
            return self.enum_member(op, spec, lit)
        if lit.kind != spec.type:  # literal kinds and filter types share names
            raise self.incompatible(op, EDM_NAMES[spec.type], _LITERAL_EDM[lit.kind])
        assert not isinstance(lit.value, tuple)
        return lit.value

    def enum_member(self, op: CompareOp, spec: FieldSpec, lit: _Literal) -> str:
        if isinstance(lit.value, tuple):
            type_name, member = lit.value
            if type_name.lower() != spec.enum_type.lower():
                raise self.incompatible(op, spec.enum_type, type_name)
        else:
            member = str(lit.value)
        # Graph matches enum members case-insensitively (spec §0.4); hand on the canonical spelling.
        for value in spec.enum_values:
            if value.lower() == member.lower():
                return value
        raise bad_request(f"The string '{member}' is not a valid enumerated type constant.")

    def incompatible(self, op: CompareOp, left: str, right: str) -> ODataError:
        return bad_request(
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{left}' and '{right}' for operator kind '{_ODL_OP_NAMES[op]}'."
        )

    def as_boolean(self, operand: _Operand, token: Token) -> Expr:
        if isinstance(operand, Call | AnyEq | ExtendedPropertyAny):
            return operand
        if isinstance(operand, Property):
            spec = self.resource.find_field(operand.path)
            if spec is not None and spec.type == "bool":
                return Compare("eq", operand, Value(True))  # bare `isRead` means `isRead eq true`
        if isinstance(operand, _Literal) and operand.kind == "bool":
            raise invalid_filter()  # `$filter=true`: a constant is no restriction Exchange accepts
        if token.kind in ("end", "rparen") or (token.kind == "ident" and token.text.lower() in ("and", "or")):
            raise bad_request("The $filter expression must evaluate to a single boolean value.")
        raise self.syntax("')' or operator expected", token)
