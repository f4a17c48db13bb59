"""Read-only queries for leaderboards and summaries, done in SQL rather than Python objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import DateTime, bindparam, text

from db.repositories._base import RepositoryBase


@dataclass(frozen=True)
class VoteRecord:
    """One counted vote, in time order, with the models' names resolved."""

    vote_id: int
    battle_id: int
    model_a: str
    model_b: str
    outcome: str
    strength: int
    judge_name: str
    judge_kind: str
    game: int
    category: str | None
    language: str | None


@dataclass(frozen=True)
class VoteFilter:
    """Which votes count, and how the games of one judge on one battle combine.

    ``judges``: judge names; the name ``human`` selects every human vote. None = all.
    ``combine="battle"``: the games one judge (or one human) played on a battle add up to
    one outcome (CodeArena: ±2 for "much better", ±1 for "better"; the sign decides).
    ``combine="game"``: every game counts on its own, a "much better" verdict with weight
    ``strong_weight`` (Arena-Hard uses 3).
    """

    judges: tuple[str, ...] | None = None
    set_name: str | None = None
    category: str | None = None
    language: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    combine: Literal["battle", "game"] = "battle"
    strong_weight: float = 1.0


@dataclass(frozen=True)
class CountRow:
    model_a: str
    model_b: str
    outcome: str
    weight: float
    category: str | None = None
    language: str | None = None
    style: tuple[int, ...] | None = None  # a_tokens, a_headers, a_lists, a_bold, b_...


STYLE_COLUMNS = tuple(f"{side}_{name}" for side in ("a", "b")
                      for name in ("tokens", "headers", "lists", "bold"))


def _where(f: VoteFilter, params: dict[str, object]) -> str:
    clauses = ["b.status = 'ready'"]
    if f.judges:
        names = [j for j in f.judges if j != "human"]
        parts = []
        if names:
            parts.append("v.judge_name IN (" + ", ".join(f":j{i}" for i in range(len(names))) + ")")
            params.update({f"j{i}": n for i, n in enumerate(names)})
        if "human" in f.judges:
            parts.append("v.judge_kind = 'human'")
        clauses.append("(" + " OR ".join(parts) + ")")
    for key, column in (("set_name", "ps.name"), ("category", "p.category"),
                        ("language", "p.language")):
        value = getattr(f, key)
        if value is not None:
            clauses.append(f"{column} = :{key}")
            params[key] = value
    if f.since is not None:
        clauses.append("v.created_at >= :since")
        params["since"] = _utc(f.since)
    if f.until is not None:
        clauses.append("v.created_at < :until")
        params["until"] = _utc(f.until)
    return " AND ".join(clauses)


def _utc(value: datetime) -> datetime:
    """A filter time in UTC, as votes are stamped (a naive time is taken as UTC)."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _query(sql: str, params: dict[str, object]):  # type: ignore[no-untyped-def]
    """``text(sql)`` with the time bounds bound as DateTime, so that SQLite compares them in
    the stored text format (UTC, no offset) rather than as the driver's default string."""
    return text(sql).bindparams(*(bindparam(k, type_=DateTime(timezone=True))
                                  for k in ("since", "until") if k in params))


_FROM = """
    FROM votes v
    JOIN battles b ON b.id = v.battle_id
    JOIN prompts p ON p.id = b.prompt_id
    JOIN prompt_sets ps ON ps.id = p.set_id
"""
# without prompt-level filters or grouping the two joins only cost time (a third of it on
# a million votes)
_FROM_BATTLES = """
    FROM votes v
    JOIN battles b ON b.id = v.battle_id
"""
_SIGNED = ("CASE v.outcome WHEN 'a' THEN (CASE WHEN v.strength > 1 THEN v.strength ELSE 1 END) "
           "WHEN 'b' THEN -(CASE WHEN v.strength > 1 THEN v.strength ELSE 1 END) ELSE 0 END")


class StatsRepository(RepositoryBase):
    def comparison_counts(self, f: VoteFilter, *, by: Literal["category", "language"] | None = None,
                          style: bool = False) -> list[CountRow]:
        """Counted outcomes aggregated to (model A, model B, outcome[, group][, style]) with
        weights. With ``style``, rows also carry the battle's eight style columns and only
        battles whose style is known are counted."""
        params: dict[str, object] = {}
        where = _where(f, params)
        group = {"category": "p.category", "language": "p.language"}.get(by or "", "''")
        extra = "".join(f", MAX(b.{c}) AS {c}" for c in STYLE_COLUMNS) if style else ""
        if style:
            where += " AND b.a_tokens IS NOT NULL AND b.b_tokens IS NOT NULL"
        frm = _FROM if (by or f.set_name or f.category or f.language) else _FROM_BATTLES
        if f.combine == "game":
            extra = extra.replace("MAX(b.", "(b.")
            inner = (f"SELECT b.model_a_id AS ma, b.model_b_id AS mb, v.outcome AS outcome, "
                     f"CASE WHEN v.strength >= 2 THEN :strong ELSE 1.0 END AS w, {group} AS g"
                     f"{extra} {frm} WHERE {where}")
            params["strong"] = float(f.strong_weight)
        else:
            # one outcome per (battle, judge, voter): the sign of the summed signed verdicts;
            # a single both-bad vote stays both-bad. Human votes are one game each, so they
            # skip the grouping (which is what keeps a million of them fast).
            plain = extra.replace("MAX(b.", "(b.")
            keys = "b.model_a_id, b.model_b_id, v.outcome" + (f", {group}" if by else "") + "".join(
                f", b.{c}" for c in STYLE_COLUMNS if style)
            inner = (f"SELECT b.model_a_id AS ma, b.model_b_id AS mb, v.outcome AS outcome, "
                     f"COUNT(*) * 1.0 AS w, {group} AS g{plain} {frm} "
                     f"WHERE {where} AND v.judge_kind = 'human' GROUP BY {keys} "
                     f"UNION ALL "
                     f"SELECT b.model_a_id AS ma, b.model_b_id AS mb, "
                     f"CASE WHEN COUNT(*) = 1 AND MAX(v.outcome) = 'both_bad' THEN 'both_bad' "
                     f"WHEN SUM({_SIGNED}) > 0 THEN 'a' WHEN SUM({_SIGNED}) < 0 THEN 'b' "
                     f"ELSE 'tie' END AS outcome, 1.0 AS w, {group} AS g{extra} "
                     f"{frm} WHERE {where} AND v.judge_kind != 'human' "
                     f"GROUP BY v.battle_id, v.judge_name, v.voter, b.model_a_id, b.model_b_id"
                     + (f", {group}" if by else ""))
        cols = "".join(f", c.{c}" for c in STYLE_COLUMNS) if style else ""
        sql = (f"SELECT ma.name, mb.name, c.outcome, SUM(c.w), c.g{cols} FROM ({inner}) c "
               "JOIN models ma ON ma.id = c.ma JOIN models mb ON mb.id = c.mb "
               f"GROUP BY ma.name, mb.name, c.outcome, c.g{cols} "
               f"ORDER BY ma.name, mb.name, c.outcome, c.g{cols}")
        with self.engine.connect() as conn:
            rows = conn.execute(_query(sql, params), params).all()
        return [CountRow(r[0], r[1], r[2], float(r[3]),
                         category=r[4] if by == "category" else None,
                         language=r[4] if by == "language" else None,
                         style=tuple(int(x) for x in r[5:13]) if style else None) for r in rows]

    def vote_records(self, judge_names: list[str] | None = None, set_name: str | None = None, *,
                     vote_filter: VoteFilter | None = None) -> list[VoteRecord]:
        """Every counted vote on a ready battle, oldest first: those ``vote_filter`` selects
        (judges, with ``human`` = every human vote, set, category, language, time), or by
        default those of ``judge_names`` on ``set_name``."""
        f = vote_filter or VoteFilter(judges=tuple(judge_names) if judge_names else None,
                                      set_name=set_name)
        params: dict[str, object] = {}
        sql = f"""
            SELECT v.id, v.battle_id, ma.name, mb.name, v.outcome, v.strength, v.judge_name,
                   v.judge_kind, v.game, p.category, p.language
            {_FROM}
            JOIN models ma ON ma.id = b.model_a_id
            JOIN models mb ON mb.id = b.model_b_id
            WHERE {_where(f, params)}
            ORDER BY v.created_at, v.id
        """
        with self.engine.connect() as conn:
            return [VoteRecord(*row) for row in conn.execute(_query(sql, params), params)]

    def counts(self) -> dict[str, int]:
        """Row counts of the main tables, for summaries and tests."""
        out = {}
        with self.engine.connect() as conn:
            for table in ("models", "prompt_sets", "prompts", "generations", "battles", "votes",
                          "judge_failures", "runs", "answer_ratings"):
                out[table] = conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
            out["failed_generations"] = conn.execute(
                text("SELECT COUNT(*) FROM generations WHERE error IS NOT NULL")).scalar_one()
            out["void_battles"] = conn.execute(
                text("SELECT COUNT(*) FROM battles WHERE status = 'void'")).scalar_one()
            out["failed_ratings"] = conn.execute(
                text("SELECT COUNT(*) FROM answer_ratings WHERE score IS NULL")).scalar_one()
        return out

    def judge_names(self) -> list[tuple[str, str, int]]:
        """(judge name, kind, votes) for every judge that has voted."""
        with self.engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT judge_name, judge_kind, COUNT(*) FROM votes "
                "GROUP BY judge_name, judge_kind ORDER BY judge_name"))
            return [(r[0], r[1], r[2]) for r in rows]

    def usage_by_model(self) -> dict[str, dict[str, float]]:
        """Tokens and cost per model over all its generations."""
        with self.engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT m.name, COUNT(g.id), COALESCE(SUM(g.prompt_tokens), 0), "
                "COALESCE(SUM(g.completion_tokens), 0), COALESCE(SUM(g.cost_usd), 0), "
                "SUM(CASE WHEN g.error IS NULL THEN 0 ELSE 1 END) "
                "FROM models m LEFT JOIN generations g ON g.model_id = m.id GROUP BY m.name"))
            return {r[0]: {"generations": r[1], "prompt_tokens": r[2], "completion_tokens": r[3],
                           "cost_usd": r[4], "failures": r[5] or 0} for r in rows}
