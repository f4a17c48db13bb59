"""drop the vote indexes that the unique constraint's leading columns already provide

``uq_vote_game`` is (battle_id, judge_name, voter, game). Its head answers what
``ix_votes_battle_id`` (battle_id) answered, and it answers voted_games'
``judge_name = ? AND battle_id IN (...)`` at least as well as ``ix_votes_judge_battle``
(judge_name, battle_id) did (from the index alone). Every vote written paid for both.

Kept: ``ix_votes_judge`` (judge_name, judge_kind), the judge list's covering index
(GROUP BY judge_name, judge_kind) and the leaderboard's judge filter. Also kept:
``ix_battles_prompt_id``. It is not redundant with ``uq_battle_slot`` (prompt_id, pair_key,
slot): it returns a prompt's battles in id order, so they are read from the table in order.
Without it, a leaderboard filtered to a language with 700,000 imported battles took 6.6 s
instead of 1.1 s, and the lookup of a re-import took twice as long.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_votes_judge_battle", table_name="votes")
    op.drop_index("ix_votes_battle_id", table_name="votes")


def downgrade() -> None:
    op.create_index("ix_votes_battle_id", "votes", ["battle_id"], unique=False)
    op.create_index("ix_votes_judge_battle", "votes", ["judge_name", "battle_id"], unique=False)
