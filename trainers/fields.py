"""The field names that ``DPOConfig``, ``SFTConfig`` and peft's ``LoraConfig`` accept, known
without importing them.

A config file with a misspelt key should fail in a fraction of a second, not after the five
seconds that importing trl costs (and without loading torch). The config classes are
dataclasses, so their fields are the annotated names in the class bodies along the
inheritance chain; this module reads those names from the *installed* sources with
:mod:`ast` (found with :func:`importlib.util.find_spec`, which does not execute the
package). If the sources moved or changed shape, the lookup returns ``None`` and the early
check is skipped; :func:`trainers.run.run_plan` checks the real dataclass fields again after
importing, with the same message (:func:`unknown_key_message`).
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Literal

FieldSet = Literal["dpo", "sft", "lora"]

# (package, file inside the package, class) from the most derived class to the root.
_CHAINS: dict[FieldSet, tuple[tuple[str, str, str], ...]] = {
    "dpo": (("trl", "trainer/dpo_config.py", "DPOConfig"),
            ("trl", "trainer/base_config.py", "_BaseConfig"),
            ("transformers", "training_args.py", "TrainingArguments")),
    "sft": (("trl", "trainer/sft_config.py", "SFTConfig"),
            ("trl", "trainer/base_config.py", "_BaseConfig"),
            ("transformers", "training_args.py", "TrainingArguments")),
    "lora": (("peft", "tuners/lora/config.py", "LoraConfig"),
             ("peft", "config.py", "PeftConfig"),
             ("peft", "config.py", "PeftConfigMixin")),
}

#: What each field set is called in messages.
CLASS_NAMES: dict[FieldSet, str] = {"dpo": "DPOConfig", "sft": "SFTConfig", "lora": "LoraConfig"}


def _package_dir(package: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _is_init_false(value: ast.expr | None) -> bool:
    """``field(..., init=False)``: a dataclass field the constructor does not take."""
    if not isinstance(value, ast.Call):
        return False
    return any(kw.arg == "init" and isinstance(kw.value, ast.Constant) and kw.value.value is False
               for kw in value.keywords)


def _class_fields(source: Path, class_name: str) -> set[str] | None:
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return {
                stmt.target.id
                for stmt in node.body
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                and not stmt.target.id.startswith("_") and not _is_init_false(stmt.value)
                and not (isinstance(stmt.annotation, ast.Subscript)
                         and isinstance(stmt.annotation.value, ast.Name)
                         and stmt.annotation.value.id == "ClassVar")
            }
    return None


@cache
def config_fields(which: FieldSet) -> frozenset[str] | None:
    """The constructor fields of ``DPOConfig`` / ``SFTConfig`` / ``LoraConfig`` as installed,
    or ``None`` when the sources cannot be read (then the caller skips the early check)."""
    names: set[str] = set()
    for package, file, class_name in _CHAINS[which]:
        root = _package_dir(package)
        if root is None:
            return None
        found = _class_fields(root / file, class_name)
        if found is None:
            return None
        names |= found
    return frozenset(names)


def unknown_key_message(key: str, which: FieldSet, known: Iterable[str], where: str) -> str:
    """The one-line error for a key that ``which`` does not have, with a close match if any.

    ``where`` names the place the key came from (a file, or ``file [lora]``)."""
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (f"{where}: unknown {CLASS_NAMES[which]} field {key!r}{hint}; "
            f"see the {CLASS_NAMES[which]} documentation for the fields it takes")
