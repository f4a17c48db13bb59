"""Measuring a judge on labelled pairs (``arena judges eval``).

Every pair is judged in both orders: a pairwise judge's two games are the two orders; a
one-game judge (cascade, majority) is asked twice with the answers swapped; an answer
judge scores both answers (the rubric judge sees them together, in each order; a judge
that scores one answer at a time scores each once, so its position-flip rate is zero by
construction and shown as "–").

* **Accuracy**: the orders' verdicts combine as the leaderboard combines games (the sign
  of the summed strengths); a correct verdict counts 1, an undecided one (a tie, an
  abstention, or a judge failure) 0.5, a wrong one 0 — CodePrefBench's rule. Failures are
  also counted on their own, so a judge that fails everywhere is not mistaken for a coin.
* **Position-flip rate**: of the pairs judged in both orders, how often the two verdicts
  (mapped to the same frame) differ.
* **Length bias**: of the decided pairs, how often the longer answer (in characters) won;
  next to it, how often the longer answer is the labelled better one.
* Tokens and cost of the judge's calls, and wall time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from arena.domain import Outcome, Prompt, Usage
from judges.base import AnswerJudge, Judge, JudgeFailure, outcome_of_scores
from judges.combine import agreement_label, close_judge, combine
from judges.pairs import LabelledPair


@dataclass
class PairResult:
    """One pair's verdicts, in the pair's frame (A = choices[0])."""

    pair: LabelledPair
    orders: list[tuple[Outcome, int] | None]  # per order: (outcome, strength); None = failed
    verdict: Outcome | None = None  # both orders combined; None when every order failed
    usage: Usage = field(default_factory=Usage)
    errors: list[str] = field(default_factory=list)
    probability: float | None = None  # mean P(choices[0] better), preference models

    @property
    def credit(self) -> float:
        """1 correct, 0.5 undecided or failed, 0 wrong."""
        if self.verdict is None or agreement_label(self.verdict) is Outcome.TIE:
            return 0.5
        winner = 0 if self.verdict is Outcome.A else 1
        return 1.0 if winner == self.pair.gt_choice else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"task_id": self.pair.task_id, "category": self.pair.category,
                "gt_choice": self.pair.gt_choice,
                "orders": [None if o is None else o[0].value for o in self.orders],
                "verdict": None if self.verdict is None else self.verdict.value,
                "credit": self.credit, "probability": self.probability, "errors": self.errors}


@dataclass
class EvalReport:
    judge: str
    kind: str
    source: str
    results: list[PairResult]
    wall_s: float = 0.0
    flips_measured: bool = True

    @property
    def n(self) -> int:
        return len(self.results)

    @property
    def accuracy(self) -> float:
        return sum(r.credit for r in self.results) / self.n if self.n else float("nan")

    def by_category(self) -> dict[str, tuple[int, float]]:
        groups: dict[str, list[PairResult]] = {}
        for r in self.results:
            groups.setdefault(r.pair.category or "(none)", []).append(r)
        return {k: (len(v), sum(r.credit for r in v) / len(v)) for k, v in sorted(groups.items())}

    @property
    def failures(self) -> int:
        return sum(1 for r in self.results if r.verdict is None)

    @property
    def undecided(self) -> int:
        return sum(1 for r in self.results
                   if r.verdict is not None and agreement_label(r.verdict) is Outcome.TIE)

    @property
    def abstained(self) -> int:
        """Pairs the judge could not judge at all (no tests, no reference answer)."""
        return sum(1 for r in self.results if any(e.startswith("abstains") for e in r.errors))

    @property
    def flip_rate(self) -> float | None:
        if not self.flips_measured:
            return None
        both = [r for r in self.results if len(r.orders) == 2 and None not in r.orders]
        if not both:
            return None
        flips = len([r for r in both
                     if agreement_label(r.orders[0][0]) != agreement_label(r.orders[1][0])])  # type: ignore[index]
        return flips / len(both)

    @property
    def longer_wins(self) -> float | None:
        decided = [r for r in self.results if r.verdict in (Outcome.A, Outcome.B)
                   and len(r.pair.choices[0]) != len(r.pair.choices[1])]
        if not decided:
            return None
        return sum(1 for r in decided if _longer(r.pair) == (0 if r.verdict is Outcome.A else 1)
                   ) / len(decided)

    @property
    def longer_is_better(self) -> float | None:
        pairs = [r.pair for r in self.results if len(r.pair.choices[0]) != len(r.pair.choices[1])]
        return sum(1 for p in pairs if _longer(p) == p.gt_choice) / len(pairs) if pairs else None

    @property
    def usage(self) -> Usage:
        total = Usage()
        for r in self.results:
            total = total + r.usage
        return total

    def as_dict(self, *, pairs: bool = False) -> dict[str, Any]:
        u = self.usage
        out: dict[str, Any] = {
            "judge": self.judge, "kind": self.kind, "pairs_file": self.source, "pairs": self.n,
            "accuracy": round(self.accuracy, 4),
            "by_category": {k: {"n": n, "accuracy": round(a, 4)}
                            for k, (n, a) in self.by_category().items()},
            "undecided": self.undecided, "abstained": self.abstained, "failures": self.failures,
            "position_flip_rate": None if self.flip_rate is None else round(self.flip_rate, 4),
            "longer_answer_wins": None if self.longer_wins is None else round(self.longer_wins, 4),
            "longer_answer_is_better": (None if self.longer_is_better is None
                                        else round(self.longer_is_better, 4)),
            "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
            "cost_usd": round(u.cost_usd or 0.0, 6), "wall_s": round(self.wall_s, 2)}
        if pairs:
            out["results"] = [r.as_dict() for r in self.results]
        return out


def _longer(pair: LabelledPair) -> int:
    return 0 if len(pair.choices[0]) > len(pair.choices[1]) else 1


def pair_prompt(pair: LabelledPair, source: str) -> Prompt:
    return Prompt(id=None, external_id=pair.task_id, set_name=f"eval:{source}",
                  text=pair.instruction, category=pair.category, tests=pair.tests,
                  entry_point=pair.entry_point, language="python" if pair.tests else None)


async def _pairwise_orders(judge: Judge, prompt: Prompt, c0: str, c1: str,
                           ) -> tuple[list[tuple[Outcome, int] | None], Usage, list[str],
                                      list[float]]:
    """Both orders' verdicts in the pair's frame, for a pairwise judge."""
    if judge.games >= 2:
        calls = [(c0, c1, g, False) for g in range(2)]
    else:  # a one-game judge: ask again with the answers swapped, and flip that verdict
        calls = [(c0, c1, 0, False), (c1, c0, 0, True)]
    out: list[tuple[Outcome, int] | None] = []
    spent, errors, probs = Usage(), [], []
    for a, b, game, swapped in calls:
        try:
            j = await judge.judge(prompt, a, b, game)
        except JudgeFailure as exc:
            out.append(None)
            spent = spent + exc.usage
            errors.append(str(exc))
            continue
        spent = spent + j.usage
        outcome = j.outcome.flipped() if swapped else j.outcome
        out.append((outcome, j.strength))
        if j.probability is not None:
            probs.append(1.0 - j.probability if swapped else j.probability)
    return out, spent, errors, probs


async def _answer_orders(judge: AnswerJudge, prompt: Prompt, c0: str, c1: str,
                         ) -> tuple[list[tuple[Outcome, int] | None], Usage, list[str]]:
    """Both orders for an answer judge: together in one call when it rates groups,
    otherwise each answer once (one order: position cannot matter)."""
    why = judge.applies(prompt)
    if why is not None:
        return [(Outcome.TIE, 0)], Usage(), [f"abstains: {why}"]
    spent, errors = Usage(), []
    out: list[tuple[Outcome, int] | None] = []
    try:
        if judge.group_size >= 2:
            for first, second, swapped in ((c0, c1, False), (c1, c0, True)):
                got = await judge.score(prompt, [first, second])
                spent = spent + got.usage
                s0, s1 = (got.scores[1], got.scores[0]) if swapped else tuple(got.scores)
                out.append(outcome_of_scores(s0, s1, judge.scale_min, judge.scale_max))
        else:
            g0 = await judge.score(prompt, [c0])
            g1 = await judge.score(prompt, [c1])
            spent = spent + g0.usage + g1.usage
            out.append(outcome_of_scores(g0.scores[0], g1.scores[0], judge.scale_min,
                                         judge.scale_max))
    except JudgeFailure as exc:
        spent = spent + exc.usage
        errors.append(str(exc))
        out.append(None)
    return out, spent, errors


async def evaluate(judge: Judge | AnswerJudge, pairs: list[LabelledPair], source: str, *,
                   concurrency: int = 16,
                   on_pair: Callable[[PairResult], None] | None = None) -> EvalReport:
    """Judge every pair in both orders and measure the judge (see the module docstring)."""
    from arena.services.scoring import is_answer_judge

    started = time.perf_counter()
    gate = asyncio.Semaphore(concurrency)
    answer = is_answer_judge(judge)

    async def one(pair: LabelledPair) -> PairResult:
        prompt = pair_prompt(pair, source)
        c0, c1 = pair.choices
        probs: list[float] = []
        async with gate:
            if answer:
                orders, spent, errors = await _answer_orders(judge, prompt, c0, c1)  # type: ignore[arg-type]
            else:
                orders, spent, errors, probs = await _pairwise_orders(judge, prompt, c0, c1)  # type: ignore[arg-type]
        done = [o for o in orders if o is not None]
        verdict = combine(done)[0] if done else None
        result = PairResult(pair, orders, verdict, spent, errors,
                            sum(probs) / len(probs) if probs else None)
        if on_pair is not None:
            on_pair(result)
        return result

    try:
        results = await asyncio.gather(*(one(p) for p in pairs))
    finally:
        await close_judge(judge)
    flips = not (answer and getattr(judge, "group_size", 1) < 2)
    return EvalReport(judge.name, judge.kind, source, list(results),
                      time.perf_counter() - started, flips_measured=flips)
