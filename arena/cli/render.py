"""Printing stored battles. Model and judge text is untrusted: shown literally, escapes made visible."""

from __future__ import annotations

import json

from rich.panel import Panel
from rich.text import Text

from arena.cli.common import table_console
from arena.safety import printable
from db.repositories import BattleDetail


def battle_json(d: BattleDetail) -> dict[str, object]:
    def gen(g: object) -> object:
        if g is None:
            return None
        return {"model": g.model, "text": g.text, "error": g.error,  # type: ignore[attr-defined]
                "prompt_tokens": g.usage.prompt_tokens,  # type: ignore[attr-defined]
                "completion_tokens": g.usage.completion_tokens,  # type: ignore[attr-defined]
                "latency_s": g.usage.latency_s, "cost_usd": g.usage.cost_usd}  # type: ignore[attr-defined]

    return {
        "id": d.battle.id, "status": d.battle.status, "prompt_set": d.prompt.set_name,
        "prompt_id": d.prompt.external_id, "prompt": d.prompt.text,
        "category": d.prompt.category, "language": d.prompt.language,
        "model_a": d.battle.model_a, "model_b": d.battle.model_b,
        "answer_a": gen(d.generation_a), "answer_b": gen(d.generation_b),
        "votes": [{"judge": v.judge_name, "kind": v.judge_kind, "voter": v.voter, "game": v.game,
                   "outcome": v.outcome.value, "strength": v.strength, "rationale": v.rationale}
                  for v in d.votes],
        "judge_failures": [{"judge": j, "game": g, "error": e} for j, g, e in d.failures],
    }


def print_battle(d: BattleDetail, fmt: str = "text") -> None:
    if fmt == "json":
        print(json.dumps(battle_json(d), indent=2, ensure_ascii=False))
        return
    con = table_console(highlight=False)
    p = d.prompt
    con.print(Text(f"Battle {d.battle.id} · {d.battle.status} · set {p.set_name} · prompt {p.external_id}"
                   f" · {p.category or '-'} / {p.language or '-'}", style="bold"))
    con.print(Panel(Text(printable(p.text)), title="prompt"))
    for side, model, g in (("A", d.battle.model_a, d.generation_a), ("B", d.battle.model_b, d.generation_b)):
        if g is None:
            body, sub = Text("(not generated)"), ""
        elif g.error:
            body, sub = Text(printable(f"FAILED: {g.error}"), style="red"), ""
        else:
            body = Text(printable(g.text))
            sub = (f"{g.usage.completion_tokens} tokens · {g.usage.latency_s or 0:.2f} s"
                   + (f" · ${g.usage.cost_usd:.5f}" if g.usage.cost_usd else ""))
        con.print(Panel(body, title=f"{side}: {model}", subtitle=sub))
    if not d.votes and not d.failures:
        con.print("no votes")
    for v in d.votes:
        who = v.judge_name + (f" ({v.voter})" if v.voter else "")
        label = {"a": f"A ({d.battle.model_a})", "b": f"B ({d.battle.model_b})"}.get(v.outcome.value, v.outcome.value)
        strength = " (much better)" if v.strength >= 2 else ""
        con.print(Text(f"vote · {who} · game {v.game}: {label}{strength}", style="bold"))
        if v.rationale:
            con.print(Text(printable(v.rationale), style="dim"))
    for judge, game, error in d.failures:
        con.print(Text(printable(f"judge failure · {judge} · game {game}: {error}"), style="red"))
