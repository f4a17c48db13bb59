"""SQLModel tables: every prompt, generation, battle, vote and run is a row.

Unique constraints carry the resume guarantees: a generation per (prompt, model, sample),
a batch battle per (prompt, pair of models), a vote per (battle, judge, voter, game). A
re-run that tries to write a finished thing again hits the constraint instead of
duplicating it. Only :mod:`db.repositories` writes to these tables.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class ModelRow(SQLModel, table=True):
    __tablename__ = "models"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=200)
    provider: str = Field(max_length=40)
    endpoint_model: str | None = Field(default=None, max_length=400)
    config_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class PromptSetRow(SQLModel, table=True):
    __tablename__ = "prompt_sets"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=200)
    source: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)


class PromptRow(SQLModel, table=True):
    __tablename__ = "prompts"
    __table_args__ = (UniqueConstraint("set_id", "external_id", name="uq_prompt_set_ext"),)
    id: int | None = Field(default=None, primary_key=True)
    set_id: int = Field(foreign_key="prompt_sets.id", index=True)
    external_id: str = Field(max_length=200)
    text: str = Field(sa_column=Column(Text, nullable=False))
    messages_json: str | None = Field(default=None, sa_column=Column(Text))
    category: str | None = Field(default=None, index=True, max_length=100)
    language: str | None = Field(default=None, index=True, max_length=100)
    difficulty: str | None = Field(default=None, max_length=50)
    reference: str | None = Field(default=None, sa_column=Column(Text))
    tests: str | None = Field(default=None, sa_column=Column(Text))
    entry_point: str | None = Field(default=None, max_length=200)
    content_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class GenerationRow(SQLModel, table=True):
    __tablename__ = "generations"
    __table_args__ = (
        UniqueConstraint("prompt_id", "model_id", "sample_index", name="uq_generation_slot"),
    )
    id: int | None = Field(default=None, primary_key=True)
    prompt_id: int = Field(foreign_key="prompts.id", index=True)
    model_id: int = Field(foreign_key="models.id", index=True)
    sample_index: int = 0
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    sampling_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_s: float | None = None
    latency_s: float | None = None
    cost_usd: float | None = None
    finish_reason: str | None = Field(default=None, max_length=40)
    error: str | None = Field(default=None, sa_column=Column(Text))
    attempts: int = 0
    # the whole conversation this answer replies to, when it is more than the prompt
    # (a follow-up turn of a live battle); NULL for a first turn
    messages_json: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)


class RunRow(SQLModel, table=True):
    __tablename__ = "runs"
    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(unique=True, max_length=64)
    kind: str = Field(max_length=40)
    config_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    status: str = Field(default="running", max_length=20)
    counts_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    started_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class BattleRow(SQLModel, table=True):
    __tablename__ = "battles"
    __table_args__ = (
        UniqueConstraint("prompt_id", "pair_key", "slot", name="uq_battle_slot"),
    )
    id: int | None = Field(default=None, primary_key=True)
    prompt_id: int = Field(foreign_key="prompts.id", index=True)
    model_a_id: int = Field(foreign_key="models.id", index=True)
    model_b_id: int = Field(foreign_key="models.id", index=True)
    generation_a_id: int | None = Field(default=None, foreign_key="generations.id")
    generation_b_id: int | None = Field(default=None, foreign_key="generations.id")
    pair_key: str = Field(max_length=420)
    slot: str = Field(default="batch", max_length=64)
    status: str = Field(default="pending", max_length=20)
    run_id: int | None = Field(default=None, foreign_key="runs.id", index=True)
    # style features of each side (answer tokens, markdown headers, list items, bold spans,
    # counted outside code), for style-controlled ratings; NULL when unknown
    a_tokens: int | None = None
    a_headers: int | None = None
    a_lists: int | None = None
    a_bold: int | None = None
    b_tokens: int | None = None
    b_headers: int | None = None
    b_lists: int | None = None
    b_bold: int | None = None
    created_at: datetime = Field(default_factory=utcnow)


class VoteRow(SQLModel, table=True):
    __tablename__ = "votes"
    __table_args__ = (
        UniqueConstraint("battle_id", "judge_name", "voter", "game", name="uq_vote_game"),
        Index("ix_votes_judge", "judge_name", "judge_kind"),
    )
    id: int | None = Field(default=None, primary_key=True)
    battle_id: int = Field(foreign_key="battles.id")  # indexed by uq_vote_game
    judge_kind: str = Field(max_length=40)
    judge_name: str = Field(max_length=200)
    voter: str = Field(default="", max_length=200)
    outcome: str = Field(max_length=20)
    strength: int = 1
    game: int = 0
    raw: str | None = Field(default=None, sa_column=Column(Text))
    rationale: str | None = Field(default=None, sa_column=Column(Text))
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    created_at: datetime = Field(default_factory=utcnow)
    probability: float | None = None  # preference models: P(side A is better)


class JudgeFailureRow(SQLModel, table=True):
    __tablename__ = "judge_failures"
    id: int | None = Field(default=None, primary_key=True)
    battle_id: int = Field(foreign_key="battles.id", index=True)
    judge_name: str = Field(max_length=200)
    game: int = 0
    error: str = Field(sa_column=Column(Text, nullable=False))
    raw: str | None = Field(default=None, sa_column=Column(Text))
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    created_at: datetime = Field(default_factory=utcnow)


class AnswerRatingRow(SQLModel, table=True):
    """A single-answer judge's score of one generation (rubric, reference, execution).

    One row per (generation, judge): a failed rating keeps ``score`` NULL and says why in
    ``error``, and is tried again by the next run. Pairwise votes are derived from these."""

    __tablename__ = "answer_ratings"
    __table_args__ = (
        UniqueConstraint("generation_id", "judge_name", name="uq_answer_rating"),
    )
    id: int | None = Field(default=None, primary_key=True)
    generation_id: int = Field(foreign_key="generations.id")  # indexed by uq_answer_rating
    judge_name: str = Field(max_length=200, index=True)
    judge_kind: str = Field(max_length=40)
    preference: str | None = Field(default=None, max_length=100)
    score: float | None = None
    scale_max: int = 5
    rationale: str | None = Field(default=None, sa_column=Column(Text))
    raw: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, sa_column=Column(Text))
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    created_at: datetime = Field(default_factory=utcnow)


class EvalResultRow(SQLModel, table=True):
    """One model's score on one evalplus test set: HumanEval+ or MBPP+, base or plus tests.

    A run of ``arena eval`` writes one row per test set it ran, sharing ``run_uid``; rows are
    never updated. ``per_task_json`` holds every task's sample statuses (and the errors of
    failed model calls); ``config_json`` the run's parameters (temperature, time limits, ...)."""

    __tablename__ = "eval_results"
    __table_args__ = (
        Index("ix_eval_results_model_bench", "model_id", "benchmark", "variant"),
    )
    id: int | None = Field(default=None, primary_key=True)
    run_uid: str = Field(max_length=32, index=True)
    model_id: int = Field(foreign_key="models.id")  # indexed by ix_eval_results_model_bench
    benchmark: str = Field(max_length=20)
    variant: str = Field(max_length=10)
    dataset_hash: str = Field(max_length=64)
    dataset_version: str = Field(max_length=40)
    samples: int
    k: int
    pass_at_1: float
    pass_at_k: float
    tasks: int
    generation_failures: int = 0
    wall_s: float | None = None
    per_task_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    config_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
