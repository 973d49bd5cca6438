"""A dependency rule of docs/architecture.md: SQL appears only in `store/`. Fails when a string outside it looks like SQL."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

SQL = re.compile(
    r"^\s*(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX))\b",
    re.I | re.S,
)
ROOT = Path(__file__).resolve().parent.parent / "src" / "mailgraph"


def main() -> int:
    """Scan every module outside store/ for SQL-looking string constants."""
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        if "store" in path.relative_to(ROOT).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
                bad.append(f"{path.relative_to(ROOT.parent.parent)}:{node.lineno}: SQL outside store/")
    print("\n".join(bad) or "sql boundary: ok")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
