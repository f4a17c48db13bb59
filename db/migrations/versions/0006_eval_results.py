"""evalplus results: a model's pass@1 / pass@k on HumanEval+ or MBPP+ (base or plus tests)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eval_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_uid", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("benchmark", sa.String(length=20), nullable=False),
        sa.Column("variant", sa.String(length=10), nullable=False),
        sa.Column("dataset_hash", sa.String(length=64), nullable=False),
        sa.Column("dataset_version", sa.String(length=40), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("k", sa.Integer(), nullable=False),
        sa.Column("pass_at_1", sa.Float(), nullable=False),
        sa.Column("pass_at_k", sa.Float(), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.Column("generation_failures", sa.Integer(), nullable=False),
        sa.Column("wall_s", sa.Float(), nullable=True),
        sa.Column("per_task_json", sa.Text(), nullable=False),
        sa.Column("config_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_eval_results_run_uid", "eval_results", ["run_uid"], unique=False)
    op.create_index("ix_eval_results_model_bench", "eval_results",
                    ["model_id", "benchmark", "variant"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_eval_results_model_bench", table_name="eval_results")
    op.drop_index("ix_eval_results_run_uid", table_name="eval_results")
    op.drop_table("eval_results")
