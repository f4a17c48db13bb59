"""Read-only queries for browsing the arena: the battle history list and filter choices.

The TUI's history screen lists the newest battles that match a search; building that from
``battles()`` plus a prompt and the votes per battle would cost a query per row, so it is
one SQL query here, with the vote outcomes counted per battle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text

from db.repositories._base import RepositoryBase

EXCERPT_CHARS = 200


@dataclass(frozen=True)
class BattleSummary:
    """One row of the battle history: the battle, the start of its prompt, its votes."""

    id: int
    created_at: datetime | None
    set_name: str
    category: str | None
    language: str | None
    prompt_excerpt: str
    model_a: str
    model_b: str
    status: str
    votes: int
    votes_a: int
    votes_b: int
    votes_tie: int
    votes_both_bad: int
    human_votes: int


def _like(term: str) -> str:
    """A lower-case LIKE pattern that matches ``term`` literally anywhere."""
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class BrowseRepository(RepositoryBase):
    def battle_summaries(self, search: str | None = None, *, limit: int = 500) -> list[BattleSummary]:
        """The newest ``limit`` battles, newest first, whose model names, prompt text,
        category, language or set name contain ``search`` (case-insensitive)."""
        params: dict[str, object] = {"limit": int(limit)}
        where = ""
        term = (search or "").strip()
        if term:
            params["q"] = _like(term)
            where = "WHERE " + " OR ".join(
                f"LOWER({c}) LIKE :q ESCAPE '\\'" for c in
                ("ma.name", "mb.name", "p.text", "p.category", "p.language", "ps.name"))
        sql = f"""
            SELECT b.id, b.created_at, ps.name, p.category, p.language,
                   SUBSTR(p.text, 1, {EXCERPT_CHARS}), ma.name, mb.name, b.status,
                   COALESCE(v.n, 0), COALESCE(v.a, 0), COALESCE(v.b, 0), COALESCE(v.t, 0),
                   COALESCE(v.x, 0), COALESCE(v.h, 0)
            FROM battles b
            JOIN prompts p ON p.id = b.prompt_id
            JOIN prompt_sets ps ON ps.id = p.set_id
            JOIN models ma ON ma.id = b.model_a_id
            JOIN models mb ON mb.id = b.model_b_id
            LEFT JOIN (
                SELECT battle_id, COUNT(*) AS n,
                       SUM(CASE WHEN outcome = 'a' THEN 1 ELSE 0 END) AS a,
                       SUM(CASE WHEN outcome = 'b' THEN 1 ELSE 0 END) AS b,
                       SUM(CASE WHEN outcome = 'tie' THEN 1 ELSE 0 END) AS t,
                       SUM(CASE WHEN outcome = 'both_bad' THEN 1 ELSE 0 END) AS x,
                       SUM(CASE WHEN judge_kind = 'human' THEN 1 ELSE 0 END) AS h
                FROM votes GROUP BY battle_id
            ) v ON v.battle_id = b.id
            {where}
            ORDER BY b.created_at DESC, b.id DESC
            LIMIT :limit
        """
        with self.engine.connect() as conn:
            rows = conn.execute(text(sql), params).all()
        return [BattleSummary(int(r[0]), _time(r[1]), r[2], r[3], r[4], r[5] or "", r[6], r[7],
                              r[8], *(int(x) for x in r[9:15])) for r in rows]

    def vote_facets(self) -> tuple[list[str], list[str]]:
        """The categories and the languages of the prompts that have votes, sorted."""
        sql = """
            SELECT DISTINCT p.category, p.language
            FROM votes v
            JOIN battles b ON b.id = v.battle_id
            JOIN prompts p ON p.id = b.prompt_id
        """
        with self.engine.connect() as conn:
            rows = conn.execute(text(sql)).all()
        return (sorted({r[0] for r in rows if r[0]}), sorted({r[1] for r in rows if r[1]}))


def _time(value: object) -> datetime | None:
    """SQLite hands raw SQL timestamps back as text; PostgreSQL as datetimes."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None
