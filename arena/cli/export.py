"""``arena export``: verdicts and ratings as TRL training data (DPO pairs, SFT examples).

Thin: parse the options, call :func:`arena.services.export.run_export`, report on stderr.
The data goes to ``--out`` (stdout stays empty); ``<out>.meta.json`` says how it was made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from arena.cli.common import fail, info, split_csv, state

export_app = typer.Typer(help="Turn verdicts into training data for TRL: DPO pairs, SFT examples.",
                         no_args_is_help=True)

Out = Annotated[Path, typer.Option("--out", help="Output: a .jsonl or .parquet file, or a folder with --format hf. Its folder must exist; <out>.meta.json is written next to it.")]
Conversational = Annotated[bool, typer.Option("--conversational", help="Role/content message lists (TRL applies the chat template) instead of plain strings.")]
Fmt = Annotated[str | None, typer.Option("--format", help="jsonl, parquet (default: from the --out suffix) or hf (a datasets save_to_disk folder).")]
Judges = Annotated[str | None, typer.Option("--judges", help="Raters that count, comma-separated: judge names, human (every human vote, majority per battle) or human:VOTER. Default: every judge that voted, plus human.")]
MinAgree = Annotated[int | None, typer.Option("--min-agree", help="At least N of the selected raters judged the battle (all must name the same winner in any case). Default 1.")]
MinMargin = Annotated[float | None, typer.Option("--min-margin", help="Minimum rating difference for scored (rubric, reference, execution) verdicts; battles without a known score gap are dropped. With --rubric: highest minus lowest rating.")]
MaxPerPrompt = Annotated[int | None, typer.Option("--max-per-prompt", help="At most N records per prompt (a seeded random choice).")]
Category = Annotated[str | None, typer.Option("--category", help="Only prompts of this category.")]
Language = Annotated[str | None, typer.Option("--language", help="Only prompts in this language.")]
SetName = Annotated[str | None, typer.Option("--set", help="Only prompts of this prompt set.")]
Rubric = Annotated[str | None, typer.Option("--rubric", help="Pair answers by one answer judge's ratings instead of battle verdicts (the stored name, e.g. ufb/readability): per prompt, highest-rated vs lowest-rated (CodeUltraFeedback).")]
Seed = Annotated[int, typer.Option("--seed", help="Seed for rating ties (--rubric) and for --max-per-prompt.")]


def _run(kind: str, out: Path, conversational: bool, fmt: str | None, judges: str | None,
         min_agree: int | None, min_margin: float | None, max_per_prompt: int | None,
         category: str | None, language: str | None, set_name: str | None,
         rubric: str | None, seed: int) -> None:
    from collections import Counter

    from arena.domain import ArenaError
    from arena.services.export import ExportRequest, run_export
    from arena.services.export_filters import NO_WINNER_NOTE, ExportFilters, describe_drops

    if fmt not in (None, "jsonl", "parquet", "hf"):
        fail("--format: choose jsonl, parquet or hf")
    filters = ExportFilters(
        judges=tuple(split_csv(judges)) if judges is not None else None, min_agree=min_agree,
        min_margin=min_margin, max_per_prompt=max_per_prompt, category=category,
        language=language, set_name=set_name, rubric=rubric, seed=seed)
    request = ExportRequest(kind, out, conversational, fmt, filters)  # type: ignore[arg-type]
    try:
        result = run_export(state.context().store, request)
    except ArenaError as exc:
        fail(str(exc))
    counts = result.meta["counts"]
    considered = next(f"{v} {k.removesuffix('_considered')}" for k, v in counts.items()
                      if k.endswith("_considered"))
    dropped = describe_drops(Counter(counts["dropped"]))
    info(f"wrote {result.written} {'pairs' if kind == 'dpo' else 'examples'} to {result.out} "
         f"({result.meta['format']}, {result.meta['style']}); how: {result.meta_path}")
    info(f"{considered} considered; dropped: {dropped}")
    info(NO_WINNER_NOTE)


@export_app.command("dpo")
def dpo_cmd(out: Out, conversational: Conversational = False, fmt: Fmt = None,
            judges: Judges = None, min_agree: MinAgree = None, min_margin: MinMargin = None,
            max_per_prompt: MaxPerPrompt = None, category: Category = None,
            language: Language = None, set_name: SetName = None, rubric: Rubric = None,
            seed: Seed = 0) -> None:
    """Preference pairs for TRL's DPO: prompt, chosen, rejected (plus metadata).

    A battle gives a pair when the selected raters agree on its winner; ties and
    both-bad verdicts are always excluded (a pair needs a winner). Pairs whose chosen
    and rejected texts are equal, and repeats of a prompt + chosen + rejected, are left out.
    """
    _run("dpo", out, conversational, fmt, judges, min_agree, min_margin, max_per_prompt,
         category, language, set_name, rubric, seed)


@export_app.command("sft")
def sft_cmd(out: Out, conversational: Conversational = False, fmt: Fmt = None,
            judges: Judges = None, min_agree: MinAgree = None, min_margin: MinMargin = None,
            max_per_prompt: MaxPerPrompt = None, category: Category = None,
            language: Language = None, set_name: SetName = None, rubric: Rubric = None,
            seed: Seed = 0) -> None:
    """SFT examples from the chosen answers: prompt + completion, or messages.

    The same selection as `arena export dpo` (ties and both-bad always excluded), keeping
    the winning answer only; one example per prompt + completion.
    """
    _run("sft", out, conversational, fmt, judges, min_agree, min_margin, max_per_prompt,
         category, language, set_name, rubric, seed)
