"""How often two raters agree on the same battles: judge audits and judge-vs-human reports.

A *rater* is one of:

- a judge name (an LLM or other automatic judge): its games on a battle (usually two, with
  the sides swapped) combine into one verdict per battle as the leaderboard combines them
  (:mod:`db.repositories.stats`): each game adds +strength for A, -strength for B (strength
  1 = better, 2 = much better; 0 for a tie or both-bad game) and the sign of the sum decides;
  a judge whose every game said "both bad" keeps ``both_bad``;
- ``human:<voter>``: the human votes of one person, one verdict per battle;
- ``human``: every human vote pooled, one verdict per battle by majority over the voters
  (a tie for the most votes is a tie).

Agreement is counted over the ready battles both raters judged, on three categories:
``a``, ``b`` and ``tie``, with **both_bad counted as tie** (neither answer is preferred).
Per cent agreement is ``100 * agree / n``. Cohen's kappa is
``(p_o - p_e) / (1 - p_e)`` with ``p_o`` the observed agreement and ``p_e`` the agreement
expected by chance from the two raters' marginal frequencies. When ``p_e = 1`` (both raters
gave one and the same label on every shared battle) the formula is 0/0 and kappa is
defined as 1.0 (perfect, if uninformative, agreement); when the raters share no battle
(``n = 0``) per cent and kappa are ``None``.

Pure over the :class:`~db.repositories.Store`: no Textual, no printing. The TUI's audit
screen and ``arena judges agreement`` both call it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Literal

from arena.domain import ArenaError, Outcome, Vote
from db.repositories import BattleDetail, Store
from db.repositories.stats import VoteFilter, VoteRecord
from judges.combine import agreement_label, combine, majority

HUMAN = "human"
HUMAN_PREFIX = "human:"
LABELS: tuple[Outcome, ...] = (Outcome.A, Outcome.B, Outcome.TIE)
NO_CATEGORY = "(none)"
By = Literal["category"] | None


@dataclass(frozen=True)
class RaterVerdict:
    """One rater's verdict on one battle.

    ``score``: the signed sum of the games (A positive) for a judge or one voter; for the
    pooled ``human`` rater, voters for A minus voters for B. ``games``: the votes combined
    (for pooled humans, the number of voters).
    """

    battle_id: int
    outcome: Outcome
    score: int
    games: int
    category: str | None = None

    @property
    def label(self) -> Outcome:
        """The outcome on the agreement scale: a, b or tie (both_bad counts as tie)."""
        return agreement_label(self.outcome)


@dataclass(frozen=True)
class AgreementRow:
    """Agreement of two raters over the battles both rated.

    ``category`` is None for the row over all battles; with ``by="category"`` the per-category
    rows carry the prompt's category (``"(none)"`` for prompts without one).
    ``confusion[i][j]`` counts battles that ``rater_x`` labelled ``LABELS[i]`` and
    ``rater_y`` labelled ``LABELS[j]``.
    """

    rater_x: str
    rater_y: str
    category: str | None
    n: int
    agree: int
    percent: float | None
    kappa: float | None
    confusion: tuple[tuple[int, ...], ...] = field(default=((0, 0, 0),) * 3)

    def as_dict(self) -> dict[str, Any]:
        return {"rater_x": self.rater_x, "rater_y": self.rater_y, "category": self.category,
                "n": self.n, "agree": self.agree, "percent": self.percent, "kappa": self.kappa,
                "labels": [o.value for o in LABELS],
                "confusion": [list(r) for r in self.confusion]}


# -- the arithmetic ---------------------------------------------------------------------
def cohen_kappa(pairs: Iterable[tuple[Outcome, Outcome]]) -> tuple[int, int, float | None,
                                                                   tuple[tuple[int, ...], ...]]:
    """(n, agree, kappa, confusion) over label pairs (both_bad is folded into tie).

    Exact integer arithmetic: ``kappa = (n·agree − Σ_k x_k·y_k) / (n² − Σ_k x_k·y_k)`` with
    ``x_k``, ``y_k`` the raters' marginal counts — the same as ``(p_o − p_e) / (1 − p_e)``.
    The denominator is 0 only when both raters used one and the same label throughout:
    kappa is then 1.0. With n = 0 kappa is None.
    """
    index = {o: i for i, o in enumerate(LABELS)}
    table = [[0, 0, 0] for _ in LABELS]
    for x, y in pairs:
        table[index[agreement_label(x)]][index[agreement_label(y)]] += 1
    n = sum(map(sum, table))
    agree = sum(table[i][i] for i in range(len(LABELS)))
    confusion = tuple(tuple(r) for r in table)
    if n == 0:
        return 0, 0, None, confusion
    rows = [sum(r) for r in table]
    cols = [sum(table[i][j] for i in range(len(LABELS))) for j in range(len(LABELS))]
    chance = sum(r * c for r, c in zip(rows, cols, strict=True))
    denominator = n * n - chance
    if denominator == 0:
        return n, agree, 1.0, confusion
    return n, agree, (n * agree - chance) / denominator, confusion


# -- raters ------------------------------------------------------------------------------
def judges(store: Store) -> list[str]:
    """Names of the non-human judges that have voted, sorted."""
    return sorted({name for name, kind, _ in store.judge_names() if kind != HUMAN})


def has_human_votes(store: Store) -> bool:
    return any(kind == HUMAN for _, kind, _ in store.judge_names())


def default_raters(store: Store) -> list[str]:
    """Every judge that voted, plus ``human`` when there are human votes."""
    return judges(store) + ([HUMAN] if has_human_votes(store) else [])


def check_rater(store: Store, rater: str) -> None:
    """Raises ArenaError naming the known raters when ``rater`` is no judge that voted
    (``human`` and ``human:<voter>`` are always accepted)."""
    if rater == HUMAN or rater.startswith(HUMAN_PREFIX):
        if rater == HUMAN_PREFIX:
            raise ArenaError("rater 'human:' names no voter: write human:<voter>")
        return
    known = judges(store)
    if rater not in known:
        raise ArenaError(f"no votes by judge {rater!r}; judges that voted: "
                         f"{', '.join(known) or 'none'} (or human, human:<voter>)")


def _human_records(store: Store) -> list[tuple[VoteRecord, str]]:
    """Every human vote on a ready battle with its voter ('' for anonymous votes)."""
    records = store.vote_records(vote_filter=VoteFilter(judges=(HUMAN,)))
    if not records:
        return []
    names = sorted({r.judge_name for r in records})
    voters = {v.id: v.voter or "" for v in store.votes(judge_names=names)
              if v.judge_kind == HUMAN}
    return [(r, voters.get(r.vote_id, "")) for r in records]


def verdicts(store: Store, rater: str) -> dict[int, RaterVerdict]:
    """The rater's verdict per ready battle, keyed by battle id (see the module docstring).

    An unknown judge or a voter without votes has no verdicts: an empty dict.
    """
    games: dict[tuple[int, str], list[tuple[Outcome, int]]] = defaultdict(list)
    category: dict[int, str | None] = {}
    if rater == HUMAN or rater.startswith(HUMAN_PREFIX):
        voter = None if rater == HUMAN else rater[len(HUMAN_PREFIX):]
        for r, who in _human_records(store):
            if voter is None or who == voter:
                games[(r.battle_id, who)].append((Outcome(r.outcome), r.strength))
                category[r.battle_id] = r.category
    else:
        for r in store.vote_records(vote_filter=VoteFilter(judges=(rater,))):
            if r.judge_kind != HUMAN:
                games[(r.battle_id, "")].append((Outcome(r.outcome), r.strength))
                category[r.battle_id] = r.category
    per_battle: dict[int, list[tuple[Outcome, int, int]]] = defaultdict(list)
    for (battle_id, _), gs in games.items():
        per_battle[battle_id].append(combine(gs))
    out: dict[int, RaterVerdict] = {}
    for battle_id in sorted(per_battle):
        each = per_battle[battle_id]
        if len(each) == 1:
            outcome, score, n = each[0]
        else:  # pooled humans: majority over the voters
            outcome = majority(o for o, _, _ in each)
            score = sum(1 if o is Outcome.A else -1 if o is Outcome.B else 0 for o, _, _ in each)
            n = len(each)
        out[battle_id] = RaterVerdict(battle_id, outcome, score, n, category[battle_id])
    return out


# -- agreement ---------------------------------------------------------------------------
def _rows(x: str, y: str, vx: dict[int, RaterVerdict], vy: dict[int, RaterVerdict],
          by: By) -> list[AgreementRow]:
    shared = sorted(vx.keys() & vy.keys())
    groups: dict[str | None, list[int]] = {None: shared}
    if by == "category":
        for battle_id in shared:
            groups.setdefault(vx[battle_id].category or NO_CATEGORY, []).append(battle_id)
    elif by is not None:
        raise ArenaError(f"agreement by {by!r}: only 'category' is supported")
    out = []
    for cat in [None, *sorted(k for k in groups if k is not None)]:
        ids = groups[cat]
        n, agree, kappa, confusion = cohen_kappa((vx[i].outcome, vy[i].outcome) for i in ids)
        out.append(AgreementRow(x, y, cat, n, agree, 100.0 * agree / n if n else None, kappa,
                                confusion))
    return out


def agreement(store: Store, rater_x: str, rater_y: str, *, by: By = None) -> list[AgreementRow]:
    """Agreement of two raters: one row over every battle both rated, then, with
    ``by="category"``, one row per prompt category (sorted). Raises ArenaError on an
    unsupported ``by``."""
    return _rows(rater_x, rater_y, verdicts(store, rater_x), verdicts(store, rater_y), by)


def agreement_table(store: Store, raters: list[str] | None = None, *,
                    by: By = None) -> list[AgreementRow]:
    """Agreement for every pair among ``raters`` (default: every judge that voted, plus
    ``human`` when people voted), each rater's verdicts read once.

    Raises ArenaError on an unknown judge or fewer than two raters.
    """
    names = list(dict.fromkeys(raters)) if raters is not None else default_raters(store)
    for name in names:
        check_rater(store, name)
    if len(names) < 2:
        raise ArenaError(
            "agreement needs two raters; " + (f"only {names[0]!r} has voted" if names else
                                             "no judge has voted yet")
            + ": run `arena judge run --judge NAME`, vote in the TUI, or name them with --judges")
    cache = {name: verdicts(store, name) for name in names}
    return [row for x, y in combinations(names, 2) for row in _rows(x, y, cache[x], cache[y], by)]


# -- auditing a judge ----------------------------------------------------------------------
@dataclass(frozen=True)
class AuditItem:
    """A battle to audit: its detail and the judge's votes and combined verdict on it."""

    detail: BattleDetail
    judge: str
    judge_votes: list[Vote]
    verdict: RaterVerdict | None


def _human_names(store: Store) -> list[str]:
    return sorted({n for n, kind, _ in store.judge_names() if kind == HUMAN})


def _voter_on(store: Store, voter: str, battles: dict[int, RaterVerdict]) -> dict[int, RaterVerdict]:
    """The voter's verdicts on these battles only (what ``verdicts(store, "human:" + voter)``
    gives, restricted to them): reads the votes on those battles, not every human vote."""
    names = _human_names(store)
    if not names or not battles:
        return {}
    games: dict[int, list[tuple[Outcome, int]]] = defaultdict(list)
    ids = sorted(battles)
    for i in range(0, len(ids), 500):
        for v in store.votes(battle_ids=ids[i:i + 500], judge_names=names):
            if v.judge_kind == HUMAN and (v.voter or "") == voter:
                games[v.battle_id].append((v.outcome, v.strength))
    return {b: RaterVerdict(b, *combine(gs), battles[b].category) for b, gs in sorted(games.items())}


def audit_queue(store: Store, judge: str, voter: str) -> list[int]:
    """Ready battles ``judge`` voted on that ``voter`` has not voted on yet, oldest first."""
    judged = verdicts(store, judge)
    seen = _voter_on(store, voter, judged)
    return [b for b in sorted(judged) if b not in seen]


def audit_item(store: Store, battle_id: int, judge: str) -> AuditItem:
    """The battle with the judge's votes (game order) and combined verdict.

    Raises ArenaError when the battle does not exist.
    """
    detail = store.battle_detail(battle_id)
    votes = sorted((v for v in detail.votes if v.judge_name == judge and v.judge_kind != HUMAN),
                   key=lambda v: (v.game, v.id or 0))
    verdict = None
    if votes:
        outcome, score, n = combine((v.outcome, v.strength) for v in votes)
        verdict = RaterVerdict(battle_id, outcome, score, n, detail.prompt.category)
    return AuditItem(detail, judge, votes, verdict)


def record_human_vote(store: Store, battle_id: int, voter: str, outcome: Outcome) -> bool:
    """Store a person's vote on a battle (judge "human", kind "human"); False when this
    voter had already voted on it."""
    return store.add_vote(Vote(battle_id=battle_id, judge_kind=HUMAN, judge_name=HUMAN,
                               outcome=outcome, voter=voter))


def voter_agreement(store: Store, voter: str, judge_names: list[str]) -> list[AgreementRow]:
    """The overall agreement of one voter with each judge (the audit screen's top line):
    the same rows as ``agreement(store, "human:" + voter, judge)``."""
    out = []
    for judge in judge_names:
        theirs = verdicts(store, judge)
        out.append(_rows(HUMAN_PREFIX + voter, judge, _voter_on(store, voter, theirs), theirs,
                         None)[0])
    return out
