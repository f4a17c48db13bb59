"""The execution judge: run each answer's code against the prompt's tests.

Where a prompt carries tests (a prompt set's ``tests`` field: top-level asserts, or a
HumanEval-style ``check(candidate)`` with the prompt's entry point), the code is extracted
from the answer with evalplus's sanitizer (it finds the function among prose and several
code blocks), then run with the tests in the sandbox of :mod:`judges.sandbox`: a separate
process as an unprivileged user, without network, unable to write outside its scratch
folder, with time, memory and process limits. Score 1 for a pass, 0 otherwise; the
rationale says what happened (failed assert, time limit, blocked file deletion, ...).

Scores are per answer, so a battle's vote is derived: a pass beats a fail, and two passes
or two fails are a tie — or, with ``fallback`` in the config, go to a second judge (the
registry builds that as a cascade).
"""

from __future__ import annotations

import ast
import json

from arena.domain import Prompt
from judges.base import JudgeFailure, Scores
from judges.extraction import extract_code, names_used
from judges.sandbox import ExecResult, Limits, run_tests_async


def calls_check(tests: str) -> bool:
    """Whether the test code already calls ``check(...)`` itself at top level (HumanEval
    files do), so the sandbox need not call it again."""
    try:
        tree = ast.parse(tests)
    except SyntaxError:
        return False
    return any(isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
               and isinstance(node.value.func, ast.Name) and node.value.func.id == "check"
               for node in tree.body)


def describe(result: ExecResult) -> str:
    return "passed all tests" if result.passed else f"{result.status}: {result.detail}"


class ExecutionJudge:
    """Scores an answer 1 when its code passes the prompt's tests, else 0."""

    kind = "execution"
    scale_min = 0
    scale_max = 1
    group_size = 1
    preference: str | None = "correctness"

    def __init__(self, name: str, *, timeout: float = 10.0, memory_mb: int = 1024) -> None:
        self.name = name
        self.limits = Limits(timeout_s=timeout, memory_mb=memory_mb)

    def applies(self, prompt: Prompt) -> str | None:
        if not prompt.tests:
            return "the prompt carries no tests"
        if prompt.language not in (None, "", "python"):
            return f"tests run only for Python, not {prompt.language}"
        return None

    async def run(self, prompt: Prompt, answer: str) -> ExecResult:
        code = extract_code(answer, prompt.entry_point, names_used(prompt.tests or ""))
        try:
            tests = prompt.tests or ""
            entry = None if calls_check(tests) else prompt.entry_point
            return await run_tests_async(code, tests, entry_point=entry, limits=self.limits)
        except OSError as exc:  # the sandbox could not start: our failure, not the answer's
            raise JudgeFailure(f"could not start the sandbox: {exc}", retryable=True) from None

    async def score(self, prompt: Prompt, answers: list[str]) -> Scores:
        if len(answers) != 1:
            raise ValueError("the execution judge runs one answer per call")
        result = await self.run(prompt, answers[0])
        raw = json.dumps({"status": result.status, "detail": result.detail,
                          "duration_s": round(result.duration_s, 3),
                          "isolation": list(result.isolation), "output": result.output[-2000:]},
                         ensure_ascii=False)
        return Scores(scores=[1.0 if result.passed else 0.0], rationales=[describe(result)],
                      raw=raw, preference=self.preference)
