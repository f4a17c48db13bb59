"""What the test server says: deterministic answers, verdicts, tokens and logprobs."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

VERDICTS = ("[[A>>B]]", "[[A>B]]", "[[A=B]]", "[[B>A]]", "[[B>>A]]")
_TOKEN_RE = re.compile(r" ?\w+| ?[^\w\s]+|\s+")
_ALTERNATIVES = (" the", "\n", " a", ".", ",", " to", "_", "(", ")", ":", " def", " =", " return")


@dataclass
class Scripted:
    """A responder answer with explicit top-logprobs: ``top_logprobs[i]`` maps candidate
    tokens to logprobs for the i-th emitted token (``None`` entries use the default)."""

    text: str
    top_logprobs: list[dict[str, float] | None] | None = None


Responder = Callable[[str, list[dict]], str | Scripted]


def tokenize(text: str) -> list[str]:
    """Deterministic, lossless toy tokenizer: words/punctuation runs with one leading space."""
    return _TOKEN_RE.findall(text)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _hash(*parts: str) -> int:
    return int.from_bytes(hashlib.blake2b("\0".join(parts).encode(), digest_size=8).digest(), "big")


_VERDICT_TEXT = {
    "[[A>>B]]": "Assistant A is clearly better: it is correct and complete; B has a real bug.",
    "[[A>B]]": "Assistant A is slightly better: both work, but A handles edge cases better.",
    "[[A=B]]": "Both answers are essentially equivalent in correctness and clarity.",
    "[[B>A]]": "Assistant B is slightly better: its code is cleaner and its explanation clearer.",
    "[[B>>A]]": "Assistant B is clearly better: A misreads the task, B solves it fully.",
}


def default_responder(model: str, messages: list[dict]) -> str:
    """Deterministic answer by (model, last user message); a judge verdict if asked for one."""
    texts = [(m.get("role"), _text(m.get("content"))) for m in messages]
    user = next((t for role, t in reversed(texts) if role == "user"), "")
    system = " ".join(t for role, t in texts if role in ("system", "developer"))
    h = _hash(model, user)
    if "[[A>>B]]" in system or "[[A>>B]]" in user:
        verdict = VERDICTS[h % len(VERDICTS)]
        return (f"I compared both answers against the user prompt (review {h % 997}). "
                f"{_VERDICT_TEXT[verdict]}\n\nMy final verdict is: {verdict}")
    judged = judge_reply(model, system, user)
    if judged is not None:
        return judged
    mh = _hash(model)
    n_steps, style = 1 + mh % 9, (mh // 9) % 3
    words = re.findall(r"[a-z]+", user.lower())[:3]
    name = "solve_" + "_".join(words) if words else "solve"
    code = [f"def {name}(data):", "    acc = 0"]
    code += [f"    acc += {(h >> i) % 7 + 1} * len(data)  # step {i + 1}" for i in range(n_steps)]
    code += ["    return acc"]
    block = "```python\n" + "\n".join(code) + "\n```"
    if style == 0:
        return f"Here is a solution:\n\n{block}\n"
    if style == 1:
        return (f"Sure! Below is a straightforward implementation.\n\n{block}\n\n"
                f"- It runs in linear time.\n- It uses {n_steps} accumulation steps.\n")
    return f"### Solution\n\n{block}\n\nThis keeps the logic simple and easy to test."


_ANSWER_BLOCK = re.compile(r"<<<ANSWER (\d+)>>>\n(.*?)\n<<<END OF ANSWER \1>>>", re.S)
_GRADED = re.compile(r"<<<ANSWER TO GRADE>>>\n(.*?)\n<<<END OF ANSWER TO GRADE>>>", re.S)


def judge_reply(model: str, system: str, user: str) -> str | None:
    """Stand-in replies for the rubric, reference and preference-model judges' prompts.

    Scores depend on the answer's text (and the judge model), not on its position, so a
    stand-in rubric judge rates the same answer the same wherever it is shown."""
    if "Rate every answer exactly once" in system:
        blocks = []
        for number, answer in _ANSWER_BLOCK.findall(user):
            rating = 1 + _hash(model, "rubric", answer) % 5
            blocks.append(f"Answer {number}\nRating: {rating}\nRationale: stand-in rating "
                          f"{rating} for an answer of {len(answer)} characters.")
        return "\n\n".join(blocks)
    graded = _GRADED.search(user)
    if graded is not None and "Rating: [[N]]" in system:
        grade = 1 + _hash(model, "reference", graded.group(1)) % 10
        return f"Compared with the reference, this answer is a stand-in {grade}.\n\nRating: [[{grade}]]"
    if "Answer with a single letter: A or B" in user:
        return "AB"[_hash(model, user) % 2]
    if "Verdict: undecided" in user:
        word = ("A", "B", "undecided")[_hash(model, user) % 3]
        return f"Both pieces of code were read for the criterion (stand-in).\nVerdict: {word}"
    return None


def _entry(token: str, logprob: float, top: list[tuple[str, float]]) -> dict:
    def one(t: str, lp: float) -> dict:
        return {"token": t, "logprob": lp, "bytes": list(t.encode("utf-8"))}
    return {**one(token, logprob), "top_logprobs": [one(t, lp) for t, lp in top]}


def make_logprobs(tokens: list[str], k: int, script: list | None = None) -> list[dict]:
    """OpenAI-shaped ``logprobs.content`` entries; the emitted token is the most likely,
    except where a :class:`Scripted` answer says otherwise."""
    out = []
    for i, tok in enumerate(tokens):
        if tokens in (["A"], ["B"]):
            other = "B" if tok == "A" else "A"
            cands = {tok: math.log(0.8), other: math.log(0.15)}
        else:
            p = 0.55 + 0.4 * (_hash(tok, str(i)) % 1000) / 1000
            cands = {tok: math.log(p)}
        scripted = script[i] if script and i < len(script) and script[i] else None
        if scripted:
            cands = {**({tok: cands[tok]} if tok not in scripted else {}), **scripted}
        floor, rest = min(cands.values()), 1.0 - sum(math.exp(v) for v in cands.values())
        start = _hash(tok, "alt") % len(_ALTERNATIVES)
        for j in range(len(_ALTERNATIVES)):
            if len(cands) >= k:
                break
            alt = _ALTERNATIVES[(start + j) % len(_ALTERNATIVES)]
            if alt not in cands:
                share = max(rest, 1e-4) * 0.5 ** (len(cands) + 1)
                cands[alt] = min(math.log(share), floor - 0.01 * (len(cands) + 1))
        top = sorted(cands.items(), key=lambda kv: -kv[1])[:k]
        out.append(_entry(tok, round(cands[tok], 6), [(t, round(v, 6)) for t, v in top]))
    return out
