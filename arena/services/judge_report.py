"""What the answer judges said, per model and preference (``arena judges report``).

For every answer judge (rubric, reference, execution) and model: the number of answers
scored, failures, the mean score per preference and overall. A failed score counts as 0 in
``mean`` (CODAL-Bench's rule for an unparsable grade) and is left out of ``mean_ok``. The
preference of a score is the one the judge was run for, else the prompt's category when
that names a coding preference, else "overall". Execution scores also count outcomes
(passed, failed, timeout, memory, blocked ...). Past ``arena judges eval`` runs are listed
with their accuracy.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from arena.domain import PREFERENCES
from db.repositories import RatedAnswer, Store


@dataclass
class ScoreCell:
    n: int = 0
    failures: int = 0
    total: float = 0.0

    def add(self, score: float | None) -> None:
        self.n += 1
        if score is None:
            self.failures += 1
        else:
            self.total += score

    @property
    def mean(self) -> float | None:
        """Failures count as 0 (the benchmark's rule)."""
        return self.total / self.n if self.n else None

    @property
    def mean_ok(self) -> float | None:
        ok = self.n - self.failures
        return self.total / ok if ok else None


@dataclass
class JudgeScores:
    judge: str
    kind: str
    scale_max: int
    cells: dict[tuple[str, str], ScoreCell] = field(default_factory=dict)  # (model, preference)
    statuses: dict[str, Counter[str]] = field(default_factory=dict)  # execution: model → status

    def models(self) -> list[str]:
        return sorted({m for m, _ in self.cells})

    def preferences(self) -> list[str]:
        return sorted({p for _, p in self.cells})

    def overall(self, model: str) -> ScoreCell:
        cell = ScoreCell()
        for (m, _), c in self.cells.items():
            if m == model:
                cell.n += c.n
                cell.failures += c.failures
                cell.total += c.total
        return cell

    def as_dict(self) -> dict[str, Any]:
        def cell(c: ScoreCell) -> dict[str, Any]:
            return {"n": c.n, "failures": c.failures,
                    "mean": None if c.mean is None else round(c.mean, 4),
                    "mean_ok": None if c.mean_ok is None else round(c.mean_ok, 4)}
        return {"judge": self.judge, "kind": self.kind, "scale_max": self.scale_max,
                "models": {m: {"overall": cell(self.overall(m)),
                               "by_preference": {p: cell(c) for (mm, p), c in self.cells.items()
                                                 if mm == m},
                               **({"outcomes": dict(self.statuses[m])}
                                  if m in self.statuses else {})}
                           for m in self.models()}}


def _preference(r: RatedAnswer) -> str:
    if r.rating.preference:
        return r.rating.preference
    return r.category if r.category in PREFERENCES else "general"


def answer_scores(store: Store, judge: str | None = None) -> list[JudgeScores]:
    out: dict[str, JudgeScores] = {}
    for r in store.rated_answers(judge):
        js = out.setdefault(r.rating.judge_name, JudgeScores(r.rating.judge_name,
                                                              r.rating.judge_kind,
                                                              r.rating.scale_max))
        js.cells.setdefault((r.model, _preference(r)), ScoreCell()).add(r.rating.score)
        if r.rating.judge_kind == "execution":
            status = "judge failure" if r.rating.score is None else _status(r.rating.raw)
            js.statuses.setdefault(r.model, Counter())[status] += 1
    return [out[k] for k in sorted(out)]


def _status(raw: str | None) -> str:
    try:
        return str(json.loads(raw or "{}").get("status", "unknown"))
    except ValueError:
        return "unknown"


def eval_runs(store: Store, judge: str | None = None) -> list[dict[str, Any]]:
    """Past ``arena judges eval`` results, oldest first."""
    rows: list[dict[str, Any]] = []
    for run in store.runs():
        if run["kind"] != "judge-eval" or run["status"] != "finished":
            continue
        counts = run["counts"]
        if judge is not None and counts.get("judge") != judge:
            continue
        rows.append({**counts, "run_id": run["id"], "finished_at": run["finished_at"]})
    return rows
