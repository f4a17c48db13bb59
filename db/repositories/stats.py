"""Read-only queries for leaderboards and summaries, done in SQL rather than Python objects."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

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


class StatsRepository(RepositoryBase):
    def vote_records(self, judge_names: list[str] | None = None,
                     set_name: str | None = None) -> list[VoteRecord]:
        """Every vote on a ready battle, oldest first, optionally for some judges only."""
        sql = """
            SELECT v.id, v.battle_id, ma.name, mb.name, v.outcome, v.strength, v.judge_name,
                   v.judge_kind, v.game, p.category, p.language
            FROM votes v
            JOIN battles b ON b.id = v.battle_id
            JOIN models ma ON ma.id = b.model_a_id
            JOIN models mb ON mb.id = b.model_b_id
            JOIN prompts p ON p.id = b.prompt_id
            JOIN prompt_sets ps ON ps.id = p.set_id
            WHERE b.status = 'ready'
        """
        params: dict[str, object] = {}
        if judge_names:
            names = ", ".join(f":j{i}" for i in range(len(judge_names)))
            sql += f" AND v.judge_name IN ({names})"
            params.update({f"j{i}": n for i, n in enumerate(judge_names)})
        if set_name:
            sql += " AND ps.name = :set_name"
            params["set_name"] = set_name
        sql += " ORDER BY v.created_at, v.id"
        with self.engine.connect() as conn:
            return [VoteRecord(*row) for row in conn.execute(text(sql), params)]

    def counts(self) -> dict[str, int]:
        """Row counts of the main tables, for summaries and tests."""
        out = {}
        with self.engine.connect() as conn:
            for table in ("models", "prompt_sets", "prompts", "generations", "battles", "votes",
                          "judge_failures", "runs"):
                out[table] = conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
            out["failed_generations"] = conn.execute(
                text("SELECT COUNT(*) FROM generations WHERE error IS NOT NULL")).scalar_one()
            out["void_battles"] = conn.execute(
                text("SELECT COUNT(*) FROM battles WHERE status = 'void'")).scalar_one()
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
