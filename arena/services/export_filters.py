"""Which answer pairs an export takes: battle verdicts filtered, or rubric ratings paired.

Two sources of pairs (see :mod:`arena.services.export` for the records written from them):

* **Battles.** Each selected rater's verdict on a battle comes from
  :func:`arena.services.agreement.verdicts` (a judge's games combine by the signed sum of
  their strengths, pooled human votes by majority over the voters). A battle becomes a pair
  when at least ``min_agree`` of the selected raters judged it and *all* of those raters
  name the same winner. A battle whose common verdict is a tie or "both bad" is dropped:
  a pair needs a winner, so ties and both-bad verdicts are always excluded. With
  ``min_margin``, a rater's score gap (the vote's raw ``{"a", "b", "scale_max"}`` JSON,
  else the judge's stored answer ratings) must be at least the margin for every rater
  whose scores are known, and a battle with no known score gap is dropped.
* **Rubric ratings** (``rubric=JUDGE``), CodeUltraFeedback's rule: per prompt (and
  conversation), among the answers that judge rated, chosen = highest-rated and
  rejected = lowest-rated, ties broken at random with a RNG seeded by ``seed`` and the
  prompt; a prompt whose highest and lowest ratings are equal gives no pair.

Every battle (or rated prompt) that gives no pair is counted under the first reason that
dropped it, so the sidecar and the "nothing to export" error can say which filter did what.
Reads only: every query goes through the repositories.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from arena.domain import AnswerRating, ArenaError, Battle, Generation, Outcome, Prompt
from arena.services.agreement import HUMAN, HUMAN_PREFIX, RaterVerdict, default_raters, verdicts
from db.repositories import Store

NO_WINNER_NOTE = "ties and both-bad verdicts are always excluded: a pair needs a winner"

#: How each drop reason reads in the "nothing to export" error.
REASONS = {
    "set": "not in --set", "category": "other --category", "language": "other --language",
    "not_ready": "not ready (pending or void)", "no_votes": "no vote by the selected judges",
    "too_few_raters": "fewer raters than --min-agree", "disagree": "raters disagree",
    "tie": "tie", "both_bad": "both bad", "no_margin": "no known rating margin",
    "margin": "margin below --min-margin", "no_answer": "an answer missing",
    "single_answer": "fewer than two rated answers", "equal_ratings": "all ratings equal",
    "same_text": "chosen text == rejected text", "duplicate": "duplicate",
    "max_per_prompt": "over --max-per-prompt",
}


def describe_drops(dropped: Counter[str]) -> str:
    """``label n, label n`` for every reason that dropped something, most first."""
    return ", ".join(f"{REASONS.get(k, k)} {n}" for k, n in dropped.most_common() if n) or "none"


@dataclass(frozen=True)
class ExportFilters:
    """What to take. ``judges``: raters (judge names, ``human`` for every human vote pooled
    by majority, ``human:VOTER`` for one person); None = every judge that voted plus
    ``human``. ``min_agree``: at least this many selected raters judged the battle (all of
    them must agree in any case; None = 1). ``rubric``: pair answers by this judge's
    ratings instead of battle verdicts. ``seed`` breaks rating ties and picks which
    records ``max_per_prompt`` keeps."""

    judges: tuple[str, ...] | None = None
    min_agree: int | None = None
    min_margin: float | None = None
    max_per_prompt: int | None = None
    category: str | None = None
    language: str | None = None
    set_name: str | None = None
    rubric: str | None = None
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"judges": list(self.judges) if self.judges is not None else None,
                "min_agree": self.min_agree, "min_margin": self.min_margin,
                "max_per_prompt": self.max_per_prompt, "category": self.category,
                "language": self.language, "set": self.set_name, "rubric": self.rubric,
                "seed": self.seed}


@dataclass(frozen=True)
class RaterNote:
    """One rater's verdict on the battle, from side A's point of view (provenance)."""

    rater: str
    outcome: str
    score: int
    games: int


@dataclass(frozen=True)
class RatingNote:
    """A judge's scores of the chosen and the rejected answer."""

    judge: str
    chosen: float
    rejected: float
    scale_max: int | None


@dataclass(frozen=True)
class Pair:
    """A chosen and a rejected answer to one conversation, with where they came from.

    ``conversation`` is what both answers answer: the prompt's messages, or for a follow-up
    turn the chosen side's whole conversation so far (``context_differs`` is then True when
    the rejected side's earlier turns were not the same)."""

    prompt: Prompt
    conversation: list[dict[str, str]]
    chosen: Generation
    rejected: Generation
    battle_id: int | None = None
    chosen_side: str | None = None
    verdicts: tuple[RaterNote, ...] = ()
    ratings: tuple[RatingNote, ...] = ()
    answers_rated: int | None = None
    context_differs: bool = False


@dataclass
class Selection:
    """The pairs, how many battles (or rated prompts) were looked at, and why the rest
    gave no pair (reason -> count)."""

    pairs: list[Pair]
    considered: int
    unit: str
    raters: list[str] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)


# -- checking the filters ----------------------------------------------------------------
def resolve_raters(store: Store, judges: tuple[str, ...] | None) -> list[str]:
    """The raters to count. Raises ArenaError naming the judges that have votes when a
    name has none (``human`` needs human votes; ``human:VOTER`` needs that voter's)."""
    known = default_raters(store)
    if judges is None:
        if not known:
            raise ArenaError("no votes yet: judge the battles (`arena judge run --judge NAME`) "
                             "or vote in the TUI, then export")
        return known
    names = list(dict.fromkeys(j.strip() for j in judges if j.strip()))
    if not names:
        raise ArenaError("--judges: name at least one judge (or human)")
    voters: set[str] | None = None
    for name in names:
        if name.startswith(HUMAN_PREFIX):
            if voters is None:
                human_names = sorted({n for n, kind, _ in store.judge_names() if kind == HUMAN})
                voters = {v.voter or "" for v in store.votes(judge_names=human_names)
                          if v.judge_kind == HUMAN} if human_names else set()
            if name[len(HUMAN_PREFIX):] in voters:
                continue
        elif name in known:
            continue
        raise ArenaError(f"--judges: no votes by {name!r}; judges with votes: "
                         f"{', '.join(known) or 'none'}"
                         + (" (or human:VOTER for one person)" if HUMAN in known else ""))
    return names


def check_filters(f: ExportFilters) -> None:
    """Raises ArenaError on a filter value that cannot be meant."""
    if f.min_agree is not None and f.min_agree < 1:
        raise ArenaError("--min-agree: at least 1")
    if f.min_margin is not None and f.min_margin < 0:
        raise ArenaError("--min-margin: a rating difference, 0 or more")
    if f.max_per_prompt is not None and f.max_per_prompt < 1:
        raise ArenaError("--max-per-prompt: at least 1")
    if f.rubric is not None and (f.judges is not None or f.min_agree is not None):
        raise ArenaError("--rubric pairs answers by one judge's ratings: --judges and "
                         "--min-agree apply to battle verdicts only")


def _prompts(store: Store, set_name: str | None) -> dict[int, Prompt]:
    """Prompts by id: of one set (ArenaError naming the sets when unknown), or of all."""
    names = [set_name] if set_name is not None else [s.name for s in store.list_sets()]
    return {p.id: p for name in names for p in store.prompts(name) if p.id is not None}


def _scope(prompt: Prompt | None, f: ExportFilters) -> str | None:
    """The filter that leaves this prompt out, or None."""
    if prompt is None:
        return "set"
    if f.category is not None and prompt.category != f.category:
        return "category"
    if f.language is not None and prompt.language != f.language:
        return "language"
    return None


def _generations(store: Store, wanted: dict[int, tuple[int, str]]) -> dict[int, Generation]:
    """Generations by id; ``wanted`` maps id -> (prompt id, model). Stored first answers
    come in bulk, other samples (live battles, follow-ups) one by one."""
    bulk = store.generations(sorted({p for p, _ in wanted.values()}),
                             sorted({m for _, m in wanted.values()}))
    out = {g.id: g for g in bulk.values() if g.id in wanted}
    for gid in sorted(wanted.keys() - out.keys()):
        out[gid] = store.generation(gid)
    return out


def conversation_of(prompt: Prompt, g: Generation) -> list[dict[str, str]]:
    """The messages the answer answers (role and content only)."""
    return [{"role": str(m["role"]), "content": str(m["content"])}
            for m in (g.messages or prompt.as_messages())]


# -- battles -------------------------------------------------------------------------------
def _scores(raw: str | None) -> tuple[float, float, int | None] | None:
    """(a, b, scale_max) from a scored vote's raw JSON, or None."""
    try:
        data = json.loads(raw or "")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    a, b, top = data.get("a"), data.get("b"), data.get("scale_max")
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return float(a), float(b), top if isinstance(top, int) else None
    return None


class _Scores:
    """Score gaps per (battle, judge): from the judge's votes, else its answer ratings."""

    def __init__(self, store: Store, judges: list[str], battles: list[Battle]) -> None:
        self.store = store
        self.votes: dict[tuple[int, str], tuple[float, float, int | None]] = {}
        ids = [b.id for b in battles] if judges else []
        for i in range(0, len(ids), 500):
            for v in store.votes(battle_ids=ids[i:i + 500], judge_names=judges):
                got = _scores(v.raw)
                if got is not None and v.judge_kind != HUMAN:
                    self.votes.setdefault((v.battle_id, v.judge_name), got)
        self._ratings: dict[str, dict[int, AnswerRating]] = {}

    def of(self, battle: Battle, judge: str) -> tuple[float, float, int | None] | None:
        if (battle.id, judge) in self.votes:
            return self.votes[(battle.id, judge)]
        if judge not in self._ratings:
            self._ratings[judge] = self.store.answer_ratings(judge)
        ra = self._ratings[judge].get(battle.generation_a_id or -1)
        rb = self._ratings[judge].get(battle.generation_b_id or -1)
        if ra is None or rb is None or ra.score is None or rb.score is None:
            return None
        return ra.score, rb.score, ra.scale_max


def _verdict_drop(found: dict[str, RaterVerdict], min_agree: int) -> str | None:
    """Why the raters' verdicts give no winner, or None when they agree on one."""
    if not found:
        return "no_votes"
    if len(found) < min_agree:
        return "too_few_raters"
    outcomes = {v.outcome for v in found.values()}
    if outcomes <= {Outcome.TIE, Outcome.BOTH_BAD}:
        return "both_bad" if outcomes == {Outcome.BOTH_BAD} else "tie"
    return "disagree" if len(outcomes) > 1 else None


def battle_pairs(store: Store, f: ExportFilters) -> Selection:
    """Pairs from battle verdicts (see the module docstring). Raises ArenaError on an
    unknown rater or set, or ``min_agree`` above the number of raters."""
    check_filters(f)
    raters = resolve_raters(store, f.judges)
    min_agree = f.min_agree or 1
    if min_agree > len(raters):
        raise ArenaError(f"--min-agree {min_agree} is more than the {len(raters)} rater(s) "
                         f"selected ({', '.join(raters)})")
    prompts = _prompts(store, f.set_name)
    battles = store.battles()
    sel = Selection([], len(battles), "battles", raters)
    scoped = []
    for b in battles:
        why = _scope(prompts.get(b.prompt_id), f) or (None if b.status == "ready" else "not_ready")
        if why is None:
            scoped.append(b)
        else:
            sel.dropped[why] += 1
    cache = {r: verdicts(store, r) for r in raters}
    scores = _Scores(store, [r for r in raters if r != HUMAN and not r.startswith(HUMAN_PREFIX)],
                     scoped)
    kept: list[tuple[Battle, dict[str, RaterVerdict], list[tuple[str, tuple[float, float, int | None]]]]] = []
    for b in scoped:
        found = {r: cache[r][b.id] for r in raters if b.id in cache[r]}
        why = _verdict_drop(found, min_agree)
        known = [(r, s) for r in found if (s := scores.of(b, r)) is not None]
        if why is None and f.min_margin is not None:
            if not known:
                why = "no_margin"
            elif any(abs(a - bb) < f.min_margin for _, (a, bb, _) in known):
                why = "margin"
        if why is None and (b.generation_a_id is None or b.generation_b_id is None):
            why = "no_answer"
        if why is not None:
            sel.dropped[why] += 1
            continue
        kept.append((b, found, known))
    wanted = {gid: (b.prompt_id, m) for b, _, _ in kept
              for gid, m in ((b.generation_a_id, b.model_a), (b.generation_b_id, b.model_b))}
    gens = _generations(store, wanted)  # type: ignore[arg-type]
    for b, found, known in kept:
        pair = _battle_pair(b, prompts[b.prompt_id], gens, found, known)
        if pair.chosen.text.strip() == pair.rejected.text.strip():
            sel.dropped["same_text"] += 1
        else:
            sel.pairs.append(pair)
    return sel


def _battle_pair(b: Battle, prompt: Prompt, gens: dict[int, Generation],
                 found: dict[str, RaterVerdict],
                 known: list[tuple[str, tuple[float, float, int | None]]]) -> Pair:
    ga, gb = gens[b.generation_a_id], gens[b.generation_b_id]  # type: ignore[index]
    a_wins = next(iter(found.values())).outcome is Outcome.A
    chosen, rejected = (ga, gb) if a_wins else (gb, ga)
    conv_c, conv_r = conversation_of(prompt, chosen), conversation_of(prompt, rejected)
    notes = tuple(RaterNote(r, v.outcome.value, v.score, v.games) for r, v in found.items())
    ratings = tuple(RatingNote(r, a if a_wins else s_b, s_b if a_wins else a, top)
                    for r, (a, s_b, top) in known)
    return Pair(prompt, conv_c, chosen, rejected, battle_id=b.id,
                chosen_side="a" if a_wins else "b", verdicts=notes, ratings=ratings,
                context_differs=conv_c != conv_r)


# -- rubric ratings ---------------------------------------------------------------------------
def rubric_pairs(store: Store, f: ExportFilters) -> Selection:
    """CodeUltraFeedback's pairs from one judge's ratings (see the module docstring).
    Raises ArenaError on a judge without ratings or an unknown set."""
    check_filters(f)
    assert f.rubric is not None
    rated = store.rated_answers(f.rubric)
    if not rated:
        names = sorted({r.rating.judge_name for r in store.rated_answers()})
        raise ArenaError(f"--rubric: no answer ratings by judge {f.rubric!r}; judges with "
                         f"ratings: {', '.join(names) or 'none'} (`arena judge run --judge "
                         "NAME --preference P` rates answers)")
    prompts = _prompts(store, f.set_name)
    gens = _generations(store, {r.rating.generation_id: (r.prompt_id, r.model) for r in rated})
    groups: dict[tuple[int, str], list[tuple[AnswerRating, Generation]]] = defaultdict(list)
    for r in rated:
        g = gens[r.rating.generation_id]
        prompt = prompts.get(r.prompt_id)
        conv = conversation_of(prompt, g) if prompt is not None else []
        groups[(r.prompt_id, json.dumps(conv, ensure_ascii=False))].append((r.rating, g))
    sel = Selection([], len(groups), "prompts")
    for (prompt_id, conv_key), answers in sorted(groups.items()):
        got = _rubric_pair(prompts.get(prompt_id), conv_key, answers, f)
        if isinstance(got, str):
            sel.dropped[got] += 1
        else:
            sel.pairs.append(got)
    return sel


def _rubric_pair(prompt: Prompt | None, conv_key: str,
                 answers: list[tuple[AnswerRating, Generation]], f: ExportFilters) -> Pair | str:
    """The highest- against the lowest-rated answer, or the reason there is no pair."""
    why = _scope(prompt, f)
    if why is not None:
        return why
    assert prompt is not None and f.rubric is not None
    ok = sorted(((a.score, g) for a, g in answers if a.score is not None and g.ok),
                key=lambda sg: sg[1].id or 0)
    if len(ok) < 2:
        return "single_answer"
    hi, lo = max(s for s, _ in ok), min(s for s, _ in ok)
    if hi == lo:
        return "equal_ratings"
    if f.min_margin is not None and hi - lo < f.min_margin:
        return "margin"
    rng = random.Random(f"{f.seed}:{prompt.set_name}:{prompt.external_id}:{conv_key}")
    chosen = rng.choice([g for s, g in ok if s == hi])
    rejected = rng.choice([g for s, g in ok if s == lo])
    if chosen.text.strip() == rejected.text.strip():
        return "same_text"
    scale = next(a.scale_max for a, _ in answers)
    return Pair(prompt, json.loads(conv_key), chosen, rejected,
                ratings=(RatingNote(f.rubric, float(hi), float(lo), scale),),
                answers_rated=len(ok))


def select_pairs(store: Store, f: ExportFilters) -> Selection:
    """Pairs from ratings when ``f.rubric`` names a judge, else from battle verdicts."""
    return rubric_pairs(store, f) if f.rubric is not None else battle_pairs(store, f)
