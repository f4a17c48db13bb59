"""single-answer judge scores (rubric, reference, execution) and preference-model probabilities

``answer_ratings`` holds one score per (generation, judge); the rubric, reference and
execution judges derive their pairwise votes from it. ``votes.probability`` keeps a
preference model's P(side A is better) next to the vote it decided.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "answer_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation_id", sa.Integer(), nullable=False),
        sa.Column("judge_name", sa.String(length=200), nullable=False),
        sa.Column("judge_kind", sa.String(length=40), nullable=False),
        sa.Column("preference", sa.String(length=100), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("scale_max", sa.Integer(), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["generation_id"], ["generations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("generation_id", "judge_name", name="uq_answer_rating"),
    )
    op.create_index("ix_answer_ratings_judge_name", "answer_ratings", ["judge_name"], unique=False)
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("probability", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.drop_column("probability")
    op.drop_index("ix_answer_ratings_judge_name", table_name="answer_ratings")
    op.drop_table("answer_ratings")
