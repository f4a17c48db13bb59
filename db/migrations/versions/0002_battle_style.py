"""style features per battle side, and an index for leaderboard aggregation

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = [f"{side}_{name}" for side in ("a", "b") for name in ("tokens", "headers", "lists", "bold")]


def upgrade() -> None:
    with op.batch_alter_table("battles", schema=None) as batch_op:
        for col in COLUMNS:
            batch_op.add_column(sa.Column(col, sa.Integer(), nullable=True))
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.create_index("ix_votes_judge_battle", ["judge_name", "battle_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.drop_index("ix_votes_judge_battle")
    with op.batch_alter_table("battles", schema=None) as batch_op:
        for col in reversed(COLUMNS):
            batch_op.drop_column(col)
