"""Only ``ledger/store/`` talks to the database (tessera's storage layering test is the model).

A third storage backend should mean implementing one interface in ``ledger/store/``; that is
only true while no other module imports a database driver or writes SQL. A module outside the
store violates the layering when it imports sqlalchemy, sqlmodel, sqlite3 or psycopg, or holds
SQL text in a string (docstrings are prose and are not checked).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DRIVERS = {"sqlalchemy", "sqlmodel", "sqlite3", "psycopg", "psycopg2"}
SQL = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\bCREATE\s+(?:TABLE|INDEX|TRIGGER)\b|\bPRAGMA\s+\w+"
)

#: Modules that still talk SQL outside the store. This set must shrink to empty: move the
#: query into a function in ledger/store/ and delete the line here (the test fails while a
#: listed module is already clean, so the list stays honest).
KNOWN_VIOLATIONS: set[str] = set()


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the string nodes that are docstrings."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def violations(path: Path) -> list[str]:
    """What in ``path`` breaks the layering: driver imports and SQL strings, with line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            names = []
        for name in names:
            if name.split(".")[0] in DRIVERS:
                found.append(f"line {node.lineno}: imports {name}")
        text = _string_text(node)
        if text is not None and id(node) not in docstrings and SQL.search(text):
            found.append(f"line {node.lineno}: SQL text {text.strip()[:40]!r}")
    return sorted(set(found), key=lambda v: int(v.split()[1].rstrip(":")))


def _string_text(node: ast.AST) -> str | None:
    """A string literal's text; an f-string's with each placeholder read as a name."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value if isinstance(part, ast.Constant) else "x" for part in node.values
        )
    return None


def modules_outside_the_store() -> list[Path]:
    paths = sorted((REPO / "ledger").rglob("*.py")) + sorted((REPO / "cli").rglob("*.py"))
    return [p for p in paths if "ledger/store/" not in p.relative_to(REPO).as_posix()]


def test_the_checker_sees_imports_and_sql(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        '"""SELECT x FROM y in a docstring is prose."""\n'
        "import sqlalchemy.orm\n"
        "from psycopg import sql\n"
        "Q = 'SELECT seq FROM entries WHERE seq = 1'\n"
        "U = f'UPDATE {t} SET a = 1'\n"
        "ok = 'select the records from the window'\n",
        encoding="utf-8",
    )
    assert [v.split(":")[0] for v in violations(bad)] == ["line 2", "line 3", "line 4", "line 5"]


def test_only_the_store_talks_sql() -> None:
    report = {
        p.relative_to(REPO).as_posix(): found
        for p in modules_outside_the_store()
        if (found := violations(p))
    }
    new = {path: found for path, found in report.items() if path not in KNOWN_VIOLATIONS}
    assert new == {}, "SQL or a database driver outside ledger/store/ (move it into the store)"
    cleaned = sorted(KNOWN_VIOLATIONS - set(report))
    assert cleaned == [], "clean now: remove these from KNOWN_VIOLATIONS"
