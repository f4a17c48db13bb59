"""The judge kinds' tables in arena.toml: fields per kind, cross-references, clear errors."""

from __future__ import annotations

import pytest

from arena.config import ConfigError, parse_config
from judges.registry import build_judge, vote_name

MODELS = {
    "jm": {"provider": "openai", "base_url": "http://127.0.0.1:9/v1"},
    "local": {"provider": "hf", "path": "/nonexistent/model"},
}


def config(judges: dict) -> object:
    return parse_config({"models": {k: dict(v) for k, v in MODELS.items()}, "judges": judges},
                        "arena.toml")


def error(judges: dict) -> str:
    with pytest.raises(ConfigError) as exc:
        config(judges)
    return str(exc.value)


def test_every_kind_parses_with_its_fields() -> None:
    cfg = config({
        "pw": {"model": "jm"},
        "ufb": {"kind": "rubric", "model": "jm", "preference": "readability", "max_answers": 3},
        "ref": {"kind": "reference", "model": "jm"},
        "pm": {"kind": "preference-model", "model": "jm", "criterion": "security",
               "mode": "generative"},
        "pml": {"kind": "preference-model", "model": "local"},
        "exec": {"kind": "execution", "timeout": 5, "memory_mb": 512, "fallback": "pw"},
        "casc": {"kind": "cascade", "judges": ["exec", "pm"]},
        "maj": {"kind": "majority", "judges": ["pw", "pm", "ref"]},
    })
    assert cfg.judges["ufb"].max_answers == 3  # type: ignore[attr-defined]
    assert cfg.judges["exec"].fallback == "pw"  # type: ignore[attr-defined]
    assert cfg.judges["maj"].judges == ["pw", "pm", "ref"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("judges", "expected"), [
    ({"r": {"kind": "rubric"}}, "[judges.r] model: required for kind 'rubric'"),
    ({"r": {"kind": "rubric", "model": "jm", "preference": "speed"}},
     "[judges.r] preference: Value error, unknown preference 'speed'"),
    ({"p": {"kind": "preference-model", "model": "jm", "criterion": "beauty"}},
     "[judges.p] criterion: Value error, unknown criterion 'beauty'"),
    ({"p": {"kind": "preference-model", "model": "jm", "mode": "vibes"}}, "[judges.p] mode:"),
    ({"c": {"kind": "cascade", "judges": ["x"]}}, "[judges.c] judges: a cascade needs at least two"),
    ({"c": {"kind": "majority", "judges": ["pw", "nope"]}, "pw": {"model": "jm"}},
     "[judges.c] judges: 'nope' is not a judge in [judges]"),
    ({"e": {"kind": "execution", "fallback": "ghost"}}, "[judges.e] judges: 'ghost' is not a judge"),
    ({"p": {"kind": "pairwise", "model": "jm", "fallback": "p"}},
     "[judges.p] fallback: only an execution judge has a fallback"),
    ({"a": {"kind": "cascade", "judges": ["b", "pw"]}, "b": {"kind": "majority", "judges": ["a", "pw"]},
      "pw": {"model": "jm"}}, "contains itself"),
    ({"r": {"kind": "rubric", "model": "local", "preference": "style"}},
     "[judges.r] model: 'local' is a local hf model"),
    ({"e": {"kind": "execution", "timeout": 0}}, "[judges.e] timeout:"),
])
def test_bad_judge_tables_name_the_table_and_field(judges: dict, expected: str) -> None:
    assert expected in error(judges)


def test_hf_model_needs_a_path() -> None:
    with pytest.raises(ConfigError, match=r"\[models.h\] path: required for provider hf"):
        parse_config({"models": {"h": {"provider": "hf"}}}, "arena.toml")


def test_vote_names_carry_the_preference() -> None:
    cfg = config({"ufb": {"kind": "rubric", "model": "jm", "preference": "style"},
                  "ref": {"kind": "reference", "model": "jm"},
                  "pm": {"kind": "preference-model", "model": "jm"},
                  "pw": {"model": "jm"}})
    assert vote_name(cfg, "ufb") == "ufb/style"  # type: ignore[arg-type]
    assert vote_name(cfg, "ufb", "readability") == "ufb/readability"  # type: ignore[arg-type]
    assert vote_name(cfg, "ref") == "ref"  # type: ignore[arg-type]
    assert vote_name(cfg, "pm", "security") == "pm/security"  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no preference to choose"):
        vote_name(cfg, "pw", "style")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not a criterion of the preference model"):
        vote_name(cfg, "pm", "readability")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not one of instruction-following"):
        vote_name(cfg, "ufb", "security")  # type: ignore[arg-type]


def test_rubric_without_any_preference_says_how_to_give_one() -> None:
    cfg = config({"ufb": {"kind": "rubric", "model": "jm"}})
    with pytest.raises(ConfigError, match="set it here or pass --preference"):
        build_judge(cfg, "ufb")  # type: ignore[arg-type]
    judge = build_judge(cfg, "ufb", "explanation")  # type: ignore[arg-type]
    assert (judge.name, judge.kind) == ("ufb/explanation", "rubric")


def test_registry_builds_each_kind() -> None:
    cfg = config({
        "pw": {"model": "jm"},
        "ref": {"kind": "reference", "model": "jm", "preference": "readability"},
        "pm": {"kind": "preference-model", "model": "jm"},
        "pml": {"kind": "preference-model", "model": "local"},
        "exec": {"kind": "execution"},
        "execfb": {"kind": "execution", "fallback": "pw"},
        "maj": {"kind": "majority", "judges": ["pw", "pm", "exec"]},
    })
    kinds = {n: build_judge(cfg, n).kind for n in cfg.judges}  # type: ignore[attr-defined]
    assert kinds == {"pw": "pairwise", "ref": "reference", "pm": "preference-model",
                     "pml": "preference-model", "exec": "execution", "execfb": "cascade",
                     "maj": "majority"}
    fb = build_judge(cfg, "execfb")  # type: ignore[arg-type]
    assert [m.name for m in fb.members] == ["execfb", "pw"]  # type: ignore[union-attr]
