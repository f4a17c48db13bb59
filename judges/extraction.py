"""The code of an answer, as evalplus's sanitizer extracts it, with what it drops put back.

One function for both places that run model-written code: the execution judge and
``arena eval``. evalplus's ``sanitize`` takes the longest valid code block of a chatty
answer and cuts it down to the imports and the definitions the entry point reaches. It keeps
only functions with a ``return``, so it drops generator helpers (MBPP+'s canonical Mbpp/630
uses one) and entry points that work in place; and it drops helpers the *tests* call but
the entry point does not (HumanEvalPack's ``decode_shift`` test calls ``encode_shift``).
Definitions the sanitized code, the entry point or ``also_needed`` use but it no longer
defines are taken back from the extracted block and put in front of the rest.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterable


def extract_code(answer: str, entry_point: str | None,
                 also_needed: Iterable[str] = ()) -> str:
    """The code to run; the answer unchanged when nothing in it parses as code."""
    from evalplus.sanitize import code_extract, sanitize

    with warnings.catch_warnings():  # parsing model code: its invalid escapes are not ours
        warnings.simplefilter("ignore", (SyntaxWarning, DeprecationWarning))
        try:
            code = sanitize(answer, entry_point) if entry_point else sanitize(answer)
            block = code_extract(answer)
            tree, source = ast.parse(code), ast.parse(block)
        except (SyntaxError, ValueError, RecursionError):
            return answer
    if not code.strip():
        return answer
    available = {name: node for node in source.body if (name := _defined_name(node))}
    have = {_defined_name(node) for node in tree.body} | _imported(tree)
    wanted = _loaded(tree) | set(also_needed) | ({entry_point} if entry_point else set())
    added: list[ast.stmt] = []
    while missing := sorted(n for n in wanted if n not in have and n in available):
        for name in missing:
            have.add(name)
            added.append(available[name])
            wanted |= _loaded(available[name])
    if not added:
        return code
    added.sort(key=lambda node: node.lineno)
    helpers = "\n".join(ast.get_source_segment(block, node) or "" for node in added)
    first = next((n for n in tree.body if not isinstance(n, ast.Import | ast.ImportFrom)), None)
    lines = code.splitlines()
    cut = len(lines) if first is None else first.lineno - 1
    return "\n".join([*lines[:cut], helpers, *lines[cut:]])


def names_used(code: str) -> set[str]:
    """Every name the code reads (the tests' calls, for ``also_needed``); empty if it does
    not parse."""
    try:
        return _loaded(ast.parse(code))
    except (SyntaxError, ValueError, RecursionError):
        return set()


def _defined_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    return None


def _imported(tree: ast.Module) -> set[str]:
    return {(a.asname or a.name).split(".")[0] for node in tree.body
            if isinstance(node, ast.Import | ast.ImportFrom) for a in node.names}


def _loaded(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
