"""Build a judge from its ``[judges.NAME]`` table.

``build_judge`` returns either a pairwise :class:`~judges.base.Judge` (pairwise,
preference-model, cascade, majority, execution with a fallback) or an
:class:`~judges.base.AnswerJudge` (rubric, reference, execution). ``preference`` (from
``--preference``) overrides the table's preference (rubric, reference) or criterion
(preference-model); the votes of a judge run for a preference carry the name
``NAME/PREFERENCE``, so one judge can be run for several preferences side by side.
"""

from __future__ import annotations

from arena.config import ArenaConfig, ConfigError, JudgeSpec
from arena.domain import CRITERIA, PREFERENCES
from arena.providers.registry import build_provider
from judges.base import AnswerJudge, Judge


def vote_name(config: ArenaConfig, name: str, preference: str | None = None) -> str:
    """The judge name its votes and ratings are stored under."""
    spec = config.judge(name)
    check_preference(config, spec, preference)
    if spec.kind == "rubric":
        return f"{name}/{preference or spec.preference}"
    return name if preference is None else f"{name}/{preference}"


def check_preference(config: ArenaConfig, spec: JudgeSpec, preference: str | None) -> None:
    where = f"{config.source}: [judges.{spec.name}]"
    if preference is not None:
        if spec.kind in ("rubric", "reference"):
            if preference not in PREFERENCES:
                raise ConfigError(f"--preference: {preference!r} is not one of "
                                  f"{', '.join(PREFERENCES)}")
        elif spec.kind == "preference-model":
            if preference not in CRITERIA:
                raise ConfigError(f"--preference: {preference!r} is not a criterion of the "
                                  f"preference model; choose one of {', '.join(CRITERIA)}")
        else:
            raise ConfigError(f"--preference: judge {spec.name!r} is of kind {spec.kind!r}, "
                              "which has no preference to choose")
    if spec.kind == "rubric" and preference is None and spec.preference is None:
        raise ConfigError(f"{where} preference: a rubric judge rates one coding preference; "
                          f"set it here or pass --preference ({', '.join(PREFERENCES)})")


def build_judge(config: ArenaConfig, name: str, preference: str | None = None,
                ) -> Judge | AnswerJudge:
    """Raises ConfigError for an unknown judge, a bad preference, or a judge whose model
    cannot be built."""
    spec = config.judge(name)
    check_preference(config, spec, preference)
    stored = vote_name(config, name, preference)
    if spec.kind == "pairwise":
        from judges.pairwise import PairwiseJudge

        assert spec.model is not None
        return PairwiseJudge(stored, build_provider(config, spec.model),
                             temperature=spec.temperature, max_tokens=spec.max_tokens,
                             max_attempts=spec.max_attempts)
    if spec.kind == "rubric":
        from judges.rubric import RubricJudge

        assert spec.model is not None
        return RubricJudge(stored, build_provider(config, spec.model),
                           preference or spec.preference or "",
                           temperature=spec.temperature, max_tokens=spec.max_tokens,
                           max_attempts=spec.max_attempts, group_size=spec.max_answers)
    if spec.kind == "reference":
        from judges.reference import ReferenceJudge

        assert spec.model is not None
        return ReferenceJudge(stored, build_provider(config, spec.model),
                              preference or spec.preference, temperature=spec.temperature,
                              max_tokens=spec.max_tokens, max_attempts=spec.max_attempts)
    if spec.kind == "preference-model":
        return _preference_model(config, spec, stored, preference)
    if spec.kind == "execution":
        _require_evalplus(config, spec)
        from judges.execution import ExecutionJudge

        judge = ExecutionJudge(stored, timeout=spec.timeout, memory_mb=spec.memory_mb)
        if spec.fallback is None:
            return judge
        from judges.combine import CascadeJudge, ScoredPairJudge

        return CascadeJudge(stored, [ScoredPairJudge(judge), _pairwise(config, spec.fallback)])
    from judges.combine import CascadeJudge, MajorityJudge

    members = [_pairwise(config, m) for m in spec.judges]
    cls = CascadeJudge if spec.kind == "cascade" else MajorityJudge
    return cls(stored, members)


def _pairwise(config: ArenaConfig, name: str) -> Judge:
    """A member of a combination, as a pairwise judge."""
    from judges.combine import ScoredPairJudge

    judge = build_judge(config, name)
    if isinstance(judge, Judge):
        return judge
    return ScoredPairJudge(judge)


def _preference_model(config: ArenaConfig, spec: JudgeSpec, stored: str,
                      preference: str | None) -> Judge:
    from judges.preference_model import PreferenceModelJudge

    assert spec.model is not None
    criterion = preference or spec.criterion
    model = config.model(spec.model)
    common = dict(criterion=criterion, mode=spec.mode, top_logprobs=spec.top_logprobs,
                  temperature=spec.temperature, max_tokens=spec.max_tokens,
                  max_attempts=spec.max_attempts)
    if model.provider == "hf":
        from arena.providers.transformers_local import shared_model

        assert model.path is not None
        return PreferenceModelJudge(stored, local=shared_model(model.path, model.device,
                                                               model.dtype), **common)  # type: ignore[arg-type]
    return PreferenceModelJudge(stored, provider=build_provider(config, spec.model), **common)  # type: ignore[arg-type]


def _require_evalplus(config: ArenaConfig, spec: JudgeSpec) -> None:
    import importlib.util

    if importlib.util.find_spec("evalplus") is None:
        raise ConfigError(f"{config.source}: [judges.{spec.name}] kind: the execution judge "
                          "extracts code with evalplus; install the eval extra "
                          "(pip install 'arena[eval]')")
