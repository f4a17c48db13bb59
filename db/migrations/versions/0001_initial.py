"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 07:53:54.318951
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('endpoint_model', sa.String(length=400), nullable=True),
    sa.Column('config_json', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_models_name'), ['name'], unique=True)

    op.create_table('prompt_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=1000), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('prompt_sets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prompt_sets_name'), ['name'], unique=True)

    op.create_table('runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('config_json', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('counts_json', sa.Text(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('fingerprint')
    )
    op.create_table('prompts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('set_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('messages_json', sa.Text(), nullable=True),
    sa.Column('category', sa.String(length=100), nullable=True),
    sa.Column('language', sa.String(length=100), nullable=True),
    sa.Column('difficulty', sa.String(length=50), nullable=True),
    sa.Column('reference', sa.Text(), nullable=True),
    sa.Column('tests', sa.Text(), nullable=True),
    sa.Column('entry_point', sa.String(length=200), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['set_id'], ['prompt_sets.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('set_id', 'external_id', name='uq_prompt_set_ext')
    )
    with op.batch_alter_table('prompts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prompts_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_prompts_language'), ['language'], unique=False)
        batch_op.create_index(batch_op.f('ix_prompts_set_id'), ['set_id'], unique=False)

    op.create_table('generations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prompt_id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('sample_index', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('sampling_json', sa.Text(), nullable=False),
    sa.Column('prompt_tokens', sa.Integer(), nullable=False),
    sa.Column('completion_tokens', sa.Integer(), nullable=False),
    sa.Column('ttft_s', sa.Float(), nullable=True),
    sa.Column('latency_s', sa.Float(), nullable=True),
    sa.Column('cost_usd', sa.Float(), nullable=True),
    sa.Column('finish_reason', sa.String(length=40), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], ),
    sa.ForeignKeyConstraint(['prompt_id'], ['prompts.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('prompt_id', 'model_id', 'sample_index', name='uq_generation_slot')
    )
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_generations_model_id'), ['model_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_generations_prompt_id'), ['prompt_id'], unique=False)

    op.create_table('battles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prompt_id', sa.Integer(), nullable=False),
    sa.Column('model_a_id', sa.Integer(), nullable=False),
    sa.Column('model_b_id', sa.Integer(), nullable=False),
    sa.Column('generation_a_id', sa.Integer(), nullable=True),
    sa.Column('generation_b_id', sa.Integer(), nullable=True),
    sa.Column('pair_key', sa.String(length=420), nullable=False),
    sa.Column('slot', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['generation_a_id'], ['generations.id'], ),
    sa.ForeignKeyConstraint(['generation_b_id'], ['generations.id'], ),
    sa.ForeignKeyConstraint(['model_a_id'], ['models.id'], ),
    sa.ForeignKeyConstraint(['model_b_id'], ['models.id'], ),
    sa.ForeignKeyConstraint(['prompt_id'], ['prompts.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('prompt_id', 'pair_key', 'slot', name='uq_battle_slot')
    )
    with op.batch_alter_table('battles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_battles_model_a_id'), ['model_a_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_battles_model_b_id'), ['model_b_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_battles_prompt_id'), ['prompt_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_battles_run_id'), ['run_id'], unique=False)

    op.create_table('judge_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('battle_id', sa.Integer(), nullable=False),
    sa.Column('judge_name', sa.String(length=200), nullable=False),
    sa.Column('game', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('raw', sa.Text(), nullable=True),
    sa.Column('prompt_tokens', sa.Integer(), nullable=False),
    sa.Column('completion_tokens', sa.Integer(), nullable=False),
    sa.Column('cost_usd', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['battle_id'], ['battles.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('judge_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_judge_failures_battle_id'), ['battle_id'], unique=False)

    op.create_table('votes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('battle_id', sa.Integer(), nullable=False),
    sa.Column('judge_kind', sa.String(length=40), nullable=False),
    sa.Column('judge_name', sa.String(length=200), nullable=False),
    sa.Column('voter', sa.String(length=200), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('strength', sa.Integer(), nullable=False),
    sa.Column('game', sa.Integer(), nullable=False),
    sa.Column('raw', sa.Text(), nullable=True),
    sa.Column('rationale', sa.Text(), nullable=True),
    sa.Column('prompt_tokens', sa.Integer(), nullable=False),
    sa.Column('completion_tokens', sa.Integer(), nullable=False),
    sa.Column('cost_usd', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['battle_id'], ['battles.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('battle_id', 'judge_name', 'voter', 'game', name='uq_vote_game')
    )
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_votes_battle_id'), ['battle_id'], unique=False)
        batch_op.create_index('ix_votes_judge', ['judge_name', 'judge_kind'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.drop_index('ix_votes_judge')
        batch_op.drop_index(batch_op.f('ix_votes_battle_id'))

    op.drop_table('votes')
    with op.batch_alter_table('judge_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_judge_failures_battle_id'))

    op.drop_table('judge_failures')
    with op.batch_alter_table('battles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_battles_run_id'))
        batch_op.drop_index(batch_op.f('ix_battles_prompt_id'))
        batch_op.drop_index(batch_op.f('ix_battles_model_b_id'))
        batch_op.drop_index(batch_op.f('ix_battles_model_a_id'))

    op.drop_table('battles')
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_generations_prompt_id'))
        batch_op.drop_index(batch_op.f('ix_generations_model_id'))

    op.drop_table('generations')
    with op.batch_alter_table('prompts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prompts_set_id'))
        batch_op.drop_index(batch_op.f('ix_prompts_language'))
        batch_op.drop_index(batch_op.f('ix_prompts_category'))

    op.drop_table('prompts')
    op.drop_table('runs')
    with op.batch_alter_table('prompt_sets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prompt_sets_name'))

    op.drop_table('prompt_sets')
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_models_name'))

    op.drop_table('models')

