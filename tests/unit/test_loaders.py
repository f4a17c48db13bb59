"""Prompt files: our JSONL, CodeArena's, strict FILE:LINE errors, and importing into the DB."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from arena.domain import ArenaError
from arena.prompts.loaders import load_prompt_file
from arena.services.prompts import DEMO_SET, ensure_demo_pack, import_prompt_file
from db.engine import open_database
from db.repositories import AnswerIn, PromptIn, Store
from db.tables import PromptRow

REPO = Path(__file__).resolve().parents[2]
DEMO_PACK = REPO / "assets" / "demo" / "prompts.jsonl"


def write_jsonl(path: Path, records: list[Any]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_error(path: Path, fmt: str | None = None) -> str:
    with pytest.raises(ArenaError) as info:
        load_prompt_file(path, fmt)  # type: ignore[arg-type]
    return str(info.value)


# --- our JSONL ------------------------------------------------------------------------------


def test_jsonl_prompt_and_messages_forms(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "set.jsonl",
        [
            {
                "id": "p1",
                "prompt": "Reverse a list in Python.",
                "category": "algorithms",
                "language": "python",
                "difficulty": "easy",
                "reference": "xs[::-1]",
                "tests": "assert f([1,2]) == [2,1]",
                "entry_point": "f",
            },
            {
                "id": 7,
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Write hello world."},
                    {"role": "assistant", "content": "print('hello')"},
                    {"role": "user", "content": "Now in Rust."},
                ],
                "difficulty": 3,
            },
        ],
    )
    prompts, answers = load_prompt_file(path)
    assert answers == []
    assert prompts[0] == PromptIn(
        external_id="p1",
        text="Reverse a list in Python.",
        messages=None,
        category="algorithms",
        language="python",
        difficulty="easy",
        reference="xs[::-1]",
        tests="assert f([1,2]) == [2,1]",
        entry_point="f",
        where=f"{path}:1",
    )
    p2 = prompts[1]
    assert p2.external_id == "7"  # numeric ids become strings
    assert p2.difficulty == "3"
    assert p2.text == "Now in Rust."  # the last user turn
    assert p2.messages is not None and len(p2.messages) == 4
    assert p2.messages[0] == {"role": "system", "content": "Be brief."}
    assert (p2.category, p2.language, p2.reference, p2.tests) == (None, None, None, None)
    assert p2.where == f"{path}:2"


def test_jsonl_answers_become_answer_in(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "set.jsonl",
        [
            {"id": "a", "prompt": "Q1", "answers": {"m1": "one", "m2": "uno"}},
            {"id": "b", "prompt": "Q2", "answers": {"m1": "two"}},
        ],
    )
    _, answers = load_prompt_file(path)
    assert answers == [
        AnswerIn("a", "m1", "one", f"{path}:1"),
        AnswerIn("a", "m2", "uno", f"{path}:1"),
        AnswerIn("b", "m1", "two", f"{path}:2"),
    ]


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text('\n{"id": "a", "prompt": "Q"}\n\n{"id": "b", "prompt": "R"}\n')
    prompts, _ = load_prompt_file(path)
    assert [p.where for p in prompts] == [f"{path}:2", f"{path}:4"]


def test_gzip_file(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "z1", "prompt": "Zip it."}) + "\n")
        fh.write(json.dumps({"id": "z2", "prompt": "Zip it again."}) + "\n")
    prompts, _ = load_prompt_file(path)
    assert [(p.external_id, p.text) for p in prompts] == [
        ("z1", "Zip it."),
        ("z2", "Zip it again."),
    ]


# --- CodeArena ------------------------------------------------------------------------------


def codearena_record(ident: Any, **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": ident,
        "messages": [{"role": "user", "content": f"Task {ident}"}],
        "gpt-4-turbo_response": f"baseline answer {ident}",
        "difficulty": "hard",
        "programming_language": "Python",
        "main_category": "Code Generation",
    }
    rec.update(extra)
    return rec


def test_codearena_format(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "CodeArena.jsonl",
        [
            codearena_record("c1"),
            codearena_record(
                2,
                messages=[
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "b"},
                    {"role": "user", "content": "c"},
                ],
                programming_language="TypeScript",
                main_category="Debugging",
            ),
        ],
    )
    prompts, answers = load_prompt_file(path)  # the format comes from the file name
    first, second = prompts
    assert (first.external_id, first.text, first.messages) == ("c1", "Task c1", None)
    assert (first.category, first.language, first.difficulty) == (
        "Code Generation",
        "python",
        "hard",
    )
    assert second.external_id == "2"
    assert second.text == "c" and second.messages is not None and len(second.messages) == 3
    assert (second.category, second.language) == ("Debugging", "typescript")
    assert answers == [
        AnswerIn("c1", "gpt-4-turbo", "baseline answer c1", f"{path}:1"),
        AnswerIn("2", "gpt-4-turbo", "baseline answer 2", f"{path}:2"),
    ]


def test_codearena_format_named_explicitly(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "prompts.jsonl", [codearena_record("c1")])
    # our loader refuses the CodeArena columns and hints at the right format ...
    assert "is this --format codearena?" in load_error(path)
    # ... and --format codearena reads it
    prompts, answers = load_prompt_file(path, "codearena")
    assert prompts[0].category == "Code Generation"
    assert [a.model for a in answers] == ["gpt-4-turbo"]


def test_codearena_errors_name_the_line(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "codearena.jsonl",
        [codearena_record("c1"), codearena_record("c2", **{"gpt-4-turbo_response": None})],
    )
    assert load_error(path) == f"{path}:2: field gpt-4-turbo_response must be a string"
    path = write_jsonl(
        tmp_path / "codearena.jsonl", [codearena_record("c1"), {"id": "c2", "prompt": "x"}]
    )
    assert load_error(path).startswith(f"{path}:2: field messages is missing")


# --- malformed files ------------------------------------------------------------------------

GOOD = {"id": "ok", "prompt": "Fine."}


def test_bad_json_on_line_3(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "s.jsonl", [GOOD, {"id": "ok2", "prompt": "x"}, '{"id": "p3", "prompt": ']
    )
    assert load_error(path).startswith(f"{path}:3: not valid JSON")


def test_not_an_object(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [GOOD, "[1, 2]"])
    assert load_error(path) == f"{path}:2: expected a JSON object, got list"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"prompt": "no id"}, "field id is missing"),
        ({"id": "", "prompt": "empty id"}, "field id is missing"),
        (
            {"id": "x", "prompt": "p", "messages": [{"role": "user", "content": "m"}]},
            "give exactly one of the fields prompt and messages",
        ),
        ({"id": "x"}, "give exactly one of the fields prompt and messages"),
        ({"id": "x", "prompt": "   "}, "the prompt is empty"),
        ({"id": "x", "prompt": 42}, "field prompt must be a string"),
        ({"id": "x", "prompt": "p", "category": ["a"]}, "field category must be a string"),
        ({"id": True, "prompt": "p"}, "field id must be a string"),
        (
            {
                "id": "x",
                "messages": [
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": "a"},
                ],
            },
            "the last message must be the user's",
        ),
        ({"id": "x", "messages": []}, "field messages must be a non-empty list"),
        ({"id": "x", "messages": [{"role": "robot", "content": "q"}]}, "messages[0] must be"),
        (
            {"id": "x", "prompt": "p", "answers": {"m": 1}},
            "field answers must map model names to response strings",
        ),
    ],
)
def test_malformed_record_names_file_and_line(
    tmp_path: Path, record: dict[str, Any], message: str
) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [GOOD, {"id": "ok2", "prompt": "x"}, record])
    msg = load_error(path)
    assert msg.startswith(f"{path}:3: "), msg
    assert message in msg


def test_unknown_field(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [{"id": "a", "prompt": "p", "promt": "typo"}])
    msg = load_error(path)
    assert msg.startswith(f"{path}:1: unknown field(s) promt; allowed: ")
    assert "entry_point" in msg


def test_duplicate_id_reports_both_lines(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "s.jsonl", [{"id": "dup", "prompt": "one"}, GOOD, {"id": "dup", "prompt": "two"}]
    )
    assert load_error(path) == f"{path}:3: id 'dup' is used twice (first at {path}:1)"


def test_missing_and_empty_file(tmp_path: Path) -> None:
    assert load_error(tmp_path / "none.jsonl") == f"{tmp_path / 'none.jsonl'}: no such file"
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    assert load_error(empty) == f"{empty}: the file has no records"


# --- importing into the database -------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(open_database(f"sqlite:///{tmp_path / 'arena.db'}"))


def prompt_count(store: Store) -> int:
    with Session(store.engine) as s:
        return int(s.exec(select(func.count()).select_from(PromptRow)).one())


def test_bad_last_line_imports_nothing(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "s.jsonl",
        [GOOD, {"id": "b", "prompt": "x"}, {"id": "c", "prompt": "y", "bogus": 1}],
    )
    with pytest.raises(ArenaError, match=rf"^{re.escape(str(path))}:3: unknown field"):
        import_prompt_file(store, path)
    assert prompt_count(store) == 0
    assert store.list_sets() == []


def test_import_then_reimport_is_a_noop(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "basics.jsonl",
        [
            {
                "id": "a",
                "prompt": "Q1",
                "category": "algo",
                "language": "python",
                "answers": {"replayer": "A1"},
            },
            {"id": "b", "prompt": "Q2", "language": "python", "answers": {"replayer": "A2"}},
        ],
    )
    first = import_prompt_file(store, path)
    assert (first.set_name, first.added, first.unchanged, first.updated) == ("basics", 2, 0, 0)
    assert (first.answers_added, first.models) == (2, ["replayer"])
    assert prompt_count(store) == 2

    again = import_prompt_file(store, path)
    assert (again.added, again.unchanged, again.updated) == (0, 2, 0)
    assert (again.answers_added, again.answers_unchanged) == (0, 2)
    assert prompt_count(store) == 2

    [info] = store.list_sets()
    assert (info.name, info.prompts, info.source) == ("basics", 2, str(path))
    assert info.categories == {"algo": 1, "-": 1}
    assert info.languages == {"python": 2}
    stored = store.prompts("basics")
    assert [(p.external_id, p.text) for p in stored] == [("a", "Q1"), ("b", "Q2")]
    assert ("replayer", "replay", None) in store.list_models()


def test_changed_prompt_without_answers_is_updated(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [{"id": "a", "prompt": "old"}])
    import_prompt_file(store, path)
    write_jsonl(path, [{"id": "a", "prompt": "new"}])
    res = import_prompt_file(store, path)
    assert (res.added, res.updated, res.unchanged) == (0, 1, 0)
    assert [p.text for p in store.prompts("s")] == ["new"]


def test_changed_prompt_with_answers_is_refused(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "s.jsonl",
        [
            {"id": "a", "prompt": "Q1", "answers": {"m": "A1"}},
            {"id": "b", "prompt": "Q2"},
        ],
    )
    import_prompt_file(store, path)
    write_jsonl(
        path,
        [
            {"id": "new", "prompt": "brand new"},
            {"id": "b", "prompt": "Q2"},
            {"id": "a", "prompt": "Q1, edited", "answers": {"m": "A1"}},
        ],
    )
    with pytest.raises(ArenaError) as info:
        import_prompt_file(store, path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:3: prompt 'a' differs from the one already imported")
    assert "new id" in msg and "--set" in msg
    # one transaction: the new prompt of the refused file was not kept either
    assert prompt_count(store) == 2
    assert [p.text for p in store.prompts("s")] == ["Q1", "Q2"]


def test_refused_import_leaves_no_model_behind(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [{"id": "a", "prompt": "Q", "answers": {"m": "A"}}])
    import_prompt_file(store, path)
    write_jsonl(path, [{"id": "a", "prompt": "Q", "answers": {"m": "changed", "extra": "E"}}])
    with pytest.raises(ArenaError, match="m's answer to 'a' differs"):
        import_prompt_file(store, path)
    assert [name for name, _, _ in store.list_models()] == ["m"]
    assert store.model_id("extra") is None  # no stale id of a rolled-back row


def test_import_into_named_set(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [GOOD])
    res = import_prompt_file(store, path, set_name="mine")
    assert res.set_name == "mine"
    assert [p.external_id for p in store.prompts("mine")] == ["ok"]
    with pytest.raises(ArenaError, match="no prompt set named 's' .*imported: mine"):
        store.prompts("s")


@pytest.mark.skipif(
    not DEMO_PACK.exists(), reason="assets/demo/prompts.jsonl is not in the tree yet"
)
def test_demo_pack_import(store: Store) -> None:
    prompts, answers = load_prompt_file(DEMO_PACK, "jsonl")
    first = ensure_demo_pack(store)
    assert first.set_name == DEMO_SET
    assert first.added == len(prompts) > 0
    assert first.answers_added == len(answers) > 0
    assert len(first.models) >= 2  # enough replay models to battle
    again = ensure_demo_pack(store)
    assert (again.added, again.updated, again.unchanged) == (0, 0, len(prompts))
    assert again.answers_added == 0
    assert prompt_count(store) == len(prompts)
