"""Two of the battle-log formats for import: Arena-Hard judgments and Arena's own JSONL.

Both are one JSON record per line, checked field by field with the helpers of
:mod:`arena.services.import_records`; Chatbot Arena's logs, the large and irregular format,
are parsed in :mod:`arena.services.battle_formats`, which calls these two.
"""

from __future__ import annotations

import re
from typing import Any

from arena.domain import Outcome, Verdict
from arena.services.import_records import (
    NAME_MAX,
    Builder,
    Source,
    fit_slot,
    ident,
    kind_of,
    label,
    model_pair,
    opt_int,
    opt_text,
    record_hash,
    tstamp,
)

OUR_FIELDS = frozenset({"prompt_id", "prompt", "model_a", "model_b", "outcome", "judge",
                        "judge_kind", "voter", "game", "strength", "tstamp", "category",
                        "language", "battle_id"})
OUTCOMES = frozenset(o.value for o in Outcome)
VERDICTS = {v.value: v for v in Verdict}
_AH_QUESTION = re.compile(r"<\|User Prompt\|>\n(.*?)\n\n<\|The Start of Assistant A's Answer\|>",
                          re.S)


# -- arena-hard ------------------------------------------------------------------------------
def _arena_hard_question(games: list[Any]) -> str | None:
    for game in games:
        prompt = game.get("user_prompt") if isinstance(game, dict) else None
        if isinstance(prompt, str):
            found = _AH_QUESTION.search(prompt)
            if found and found.group(1).strip():
                return found.group(1)
    return None


def parse_arena_hard(src: Source, b: Builder, baseline: str) -> None:
    for n, rec in src.records():
        b.records += 1
        if not isinstance(rec, dict):
            src.fail(n, f"expected a JSON object, got {kind_of(rec)}")
        qid = ident(src, n, rec, "question_id")
        model = ident(src, n, rec, "model")
        judge = ident(src, n, rec, "judge")
        assert qid and model and judge
        if model == baseline:
            src.fail(n, f"model {model!r} is the baseline itself")
        games = rec.get("games")
        if not isinstance(games, list) or len(games) != 2:
            src.fail(n, "field games must be a list of two games (the second with A and B "
                        "swapped)")
        pi = b.prompt(qid, _arena_hard_question(games), None, None, n)
        slot = fit_slot(f"import:arena-hard:{qid}:{model}:{judge}")
        bi = b.battle((slot, baseline, model), pi, baseline, model, slot, None, None, n)
        for g, game in enumerate(games):
            if game is not None and not isinstance(game, dict):
                src.fail(n, f"games[{g}] must be an object with a score, got {kind_of(game)}")
            score = None if game is None else game.get("score")
            if score is None:
                b.failed.append(f"{src.where(n)} game {g + 1}")
                continue
            verdict = VERDICTS.get(score) if isinstance(score, str) else None
            if verdict is None:
                src.fail(n, f"games[{g}].score must be one of {', '.join(VERDICTS)} or null, "
                            f"got {score!r}"[:300])
            if g == 1:  # game 2 showed the model as A: back into the battle's frame
                verdict = verdict.flipped()
            b.vote(bi, "pairwise", judge, "", verdict.outcome.value, verdict.strength, g, None, n)


# -- ours ------------------------------------------------------------------------------------
def parse_ours(src: Source, b: Builder) -> None:
    langs: dict[Any, Any] = {}
    cats: dict[Any, Any] = {}
    for n, rec in src.records():
        b.records += 1
        if not isinstance(rec, dict):
            src.fail(n, f"expected a JSON object, got {kind_of(rec)}")
        unknown = sorted(set(rec) - OUR_FIELDS)
        if unknown:
            src.fail(n, f"unknown field(s) {', '.join(unknown)}; allowed: "
                        f"{', '.join(sorted(OUR_FIELDS))} (is this --format fastchat?)")
        ext = ident(src, n, rec, "prompt_id")
        ma, mb = model_pair(src, n, rec)
        assert ext
        outcome = rec.get("outcome")
        if not isinstance(outcome, str) or outcome not in OUTCOMES:
            src.fail(n, f"field outcome must be one of {', '.join(sorted(OUTCOMES))}, got "
                        f"{outcome!r}"[:300])
        text = opt_text(src, n, rec, "prompt")
        judge = ident(src, n, rec, "judge", required=False) or "human"
        kind = opt_text(src, n, rec, "judge_kind", 40) or (
            "human" if judge == "human" else "pairwise")
        voter = opt_text(src, n, rec, "voter", NAME_MAX) or ""
        game = opt_int(src, n, rec, "game", 0)
        strength = opt_int(src, n, rec, "strength", 1)
        ts = tstamp(src, n, rec.get("tstamp"), iso=True)
        cat = label(src, n, rec, "category", cats)
        lang = label(src, n, rec, "language", langs)
        battle_id = ident(src, n, rec, "battle_id", required=False)
        pi = b.prompt(ext, text if text and text.strip() else None, cat, lang, n,
                      strict_text=True)
        slot = fit_slot("import:" + (battle_id or record_hash(rec)))
        bi = b.battle(slot, pi, ma, mb, slot, ts, None, n)
        b.vote(bi, kind, judge, voter, outcome, strength, game, ts, n)
