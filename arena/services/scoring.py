"""Answer judges on battles: score each answer once, store the scores, derive the votes.

The rubric, reference and execution judges score answers rather than pairs. For a set of
ready battles this module collects every answer that still lacks a score from the judge
(or whose last try failed), groups a prompt's answers (up to the judge's group size: the
rubric judge rates up to four in one call), scores them, stores each score (or failure)
per answer, and then writes one vote per battle whose two answers both have a score:
the higher score wins, equal scores tie. A failed score is kept as a failure and tried
again by the next run; it never becomes a vote.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from arena.domain import AnswerRating, Battle, Prompt, Usage, Vote
from db.repositories import Store
from judges.base import AnswerJudge, JudgeFailure, outcome_of_scores

if TYPE_CHECKING:
    from arena.services.battles import Progress, RunSummary


def is_answer_judge(judge: object) -> bool:
    return hasattr(judge, "score") and hasattr(judge, "group_size")


def split_even(items: list[tuple[int, str]], size: int) -> list[list[tuple[int, str]]]:
    """Split into the fewest groups of at most ``size``, as even as possible (5 → 3 + 2)."""
    if not items:
        return []
    n = -(-len(items) // size)
    base, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + base + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out


async def score_battles(store: Store, judge: AnswerJudge, battles: list[Battle],
                        texts: dict[int, tuple[Prompt, str, str]], gate: asyncio.Semaphore,
                        summary: RunSummary, progress: Callable[[Progress], None]) -> None:
    from arena.services.battles import Progress, _short

    gen_ids = sorted({g for b in battles for g in (b.generation_a_id, b.generation_b_id)
                      if g is not None})
    have = store.answer_ratings(judge.name, gen_ids)
    todo: dict[int, dict[int, str]] = {}
    prompts: dict[int, Prompt] = {}
    skipped: Counter[str] = Counter()
    scorable: list[Battle] = []
    for b in battles:
        prompt, text_a, text_b = texts[b.id]
        why = judge.applies(prompt)
        if why is not None:
            skipped[why] += 1
            continue
        scorable.append(b)
        assert prompt.id is not None and b.generation_a_id and b.generation_b_id
        prompts[prompt.id] = prompt
        for gid, text in ((b.generation_a_id, text_a), (b.generation_b_id, text_b)):
            if gid not in have or not have[gid].ok:
                todo.setdefault(prompt.id, {})[gid] = text
    for why, n in skipped.items():
        summary.errors[f"skipped: {why}"] += n
        summary.skipped += n
    groups = [(prompts[pid], chunk) for pid, gens in todo.items()
              for chunk in split_even(sorted(gens.items()), judge.group_size)]
    progress(Progress("total", True, str(len(groups) + len(scorable))))

    async def rate(prompt: Prompt, chunk: list[tuple[int, str]]) -> None:
        async with gate:
            try:
                got = await judge.score(prompt, [text for _, text in chunk])
            except JudgeFailure as exc:
                for gid, _ in chunk:
                    store.save_answer_rating(AnswerRating(
                        generation_id=gid, judge_name=judge.name, judge_kind=judge.kind,
                        score=None, scale_max=judge.scale_max, preference=_preference(judge, prompt),
                        raw=exc.raw, error=str(exc), usage=exc.usage if gid == chunk[0][0] else Usage()))
                summary.judge_failures += 1
                summary.usage = summary.usage + exc.usage
                summary.errors[_short(str(exc))] += len(chunk)
                progress(Progress("score", False, str(exc)))
                return
        summary.usage = summary.usage + got.usage
        for i, (gid, _) in enumerate(chunk):
            store.save_answer_rating(AnswerRating(
                generation_id=gid, judge_name=judge.name, judge_kind=judge.kind,
                score=got.scores[i], scale_max=judge.scale_max,
                preference=got.preference or _preference(judge, prompt), rationale=got.rationales[i],
                raw=got.raw, usage=got.usage if i == 0 else Usage()))
        summary.scored += len(chunk)
        progress(Progress("score", True, str(prompt.id)))

    await asyncio.gather(*(rate(p, chunk) for p, chunk in groups))
    have = store.answer_ratings(judge.name, gen_ids)
    done = store.voted_games(judge.name, [b.id for b in scorable])
    for b in scorable:
        if (b.id, 0) in done:
            summary.votes_existing += 1
            progress(Progress("vote", True, str(b.id)))
            continue
        ra, rb = have.get(b.generation_a_id or -1), have.get(b.generation_b_id or -1)
        if ra is None or rb is None or ra.score is None or rb.score is None:
            progress(Progress("vote", False, f"battle {b.id}: an answer has no score"))
            continue
        outcome, strength = outcome_of_scores(ra.score, rb.score, judge.scale_min, judge.scale_max)
        raw = json.dumps({"a": ra.score, "b": rb.score, "scale_max": judge.scale_max,
                          "preference": ra.preference})
        why = (f"A {ra.score:g}/{judge.scale_max}: {ra.rationale or ''}\n"
               f"B {rb.score:g}/{judge.scale_max}: {rb.rationale or ''}")
        if store.add_vote(Vote(battle_id=b.id, judge_kind=judge.kind, judge_name=judge.name,
                               outcome=outcome, strength=strength, game=0, raw=raw,
                               rationale=why)):
            summary.votes_new += 1
        else:
            summary.votes_existing += 1
        progress(Progress("vote", True, str(b.id)))



def _preference(judge: AnswerJudge, prompt: Prompt) -> str | None:
    """What the judge scores for on this prompt (the reference judge falls back to the
    prompt's category)."""
    pick = getattr(judge, "preference_for", None)
    return pick(prompt) if pick is not None else judge.preference
