"""``arena.services.export``: TRL DPO/SFT records from battle verdicts and rubric ratings.

Three databases, each built once per module with the real pieces:

* ``real``: the demo pack, a replay tournament (BattleRunner, no judge), then a pairwise
  judge and a rubric judge served by the OpenAI-protocol test server, plus a few human
  votes: record shapes, TRL, parquet and datasets folders, the rubric rule, the sidecar.
* ``hand``: ten battles with votes written by hand, so every filter's count is exact.
* ``edge``: a prompt whose models answer alike (de-duplication, equal texts), a multi-turn
  live battle, and hand-made ratings with ties (the seeded CodeUltraFeedback rule).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arena.config import parse_config
from arena.domain import AnswerRating, ArenaError, Battle, Outcome, Usage, Vote
from arena.services.battles import BattleRunner
from arena.services.export import ExportRequest, _clean, meta_path_for, run_export
from arena.services.export_filters import ExportFilters
from arena.services.planning import make_plan
from arena.services.prompts import ensure_demo_pack, import_prompt_file
from arena.testing.openai_server import OpenAITestServer
from db.engine import open_database
from db.repositories import Store

S, M, L, T = "sample-strong", "sample-solid", "sample-sloppy", "sample-terse"
HAND_JUDGES = ["jx", "rx", "ry", "human"]  # judges sorted, then pooled humans


def open_store(folder: Path) -> Store:
    return Store(open_database(f"sqlite:///{folder / 'arena.db'}"))


def run_battles(store: Store, models: list[str], set_name: str, **kw: Any) -> list[Battle]:
    config = parse_config({}, "test.toml")
    plan = make_plan(store, config, models, set_name, None, **kw)
    asyncio.run(BattleRunner(store, config).run(plan))
    ids = {p.id for p in plan.prompts}
    return [b for b in store.battles(set_name=set_name) if b.prompt_id in ids]


def vote(store: Store, b: Battle, winner: str, judge: str = "jx", *, voter: str | None = None,
         game: int = 0, raw: dict[str, Any] | None = None, kind: str | None = None) -> None:
    """A vote naming the winning model (or tie / both_bad), turned into the battle's frame."""
    outcome = {b.model_a: Outcome.A, b.model_b: Outcome.B}.get(winner) or Outcome(winner)
    kind = kind or ("human" if judge == "human" else "pairwise")
    assert store.add_vote(Vote(battle_id=b.id, judge_kind=kind, judge_name=judge, outcome=outcome,
                               game=game, voter=voter, raw=json.dumps(raw) if raw else None))


def scored(store: Store, b: Battle, scores: dict[str, float], judge: str = "rx") -> None:
    """A rubric-style vote whose raw JSON carries both scores (by model)."""
    sa, sb = scores[b.model_a], scores[b.model_b]
    winner = b.model_a if sa > sb else b.model_b
    vote(store, b, winner, judge, raw={"a": sa, "b": sb, "scale_max": 5}, kind="rubric")


def find(battles: list[Battle], prompt_id: int, x: str, y: str) -> Battle:
    return next(b for b in battles if b.prompt_id == prompt_id and {b.model_a, b.model_b} == {x, y})


def export(store: Store, out: Path, kind: str = "dpo", **kw: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    conversational = kw.pop("conversational", False)
    fmt = kw.pop("fmt", None)
    result = run_export(store, ExportRequest(kind, out, conversational, fmt,  # type: ignore[arg-type]
                                             ExportFilters(**kw)))
    records = ([json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
               if out.suffix == ".jsonl" else [])
    assert result.written == len(records) or out.suffix != ".jsonl"
    return records, result.meta


# -- databases ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = open_store(tmp_path_factory.mktemp("real"))
    ensure_demo_pack(store)
    battles = run_battles(store, [S, M, L, T], "demo", limit=4)
    assert len(battles) == 24 and all(b.status == "ready" for b in battles)
    with OpenAITestServer() as srv:
        config = parse_config({
            "models": {"judge-model": {"provider": "openai", "model": "judge-model",
                                       "base_url": srv.url, "max_retries": 0, "timeout": 10}},
            "judges": {"pw": {"kind": "pairwise", "model": "judge-model"},
                       "ufb": {"kind": "rubric", "model": "judge-model"}}}, "test.toml")
        runner = BattleRunner(store, config)
        assert asyncio.run(runner.judge_battles("pw")).votes_new == 48
        assert asyncio.run(runner.judge_battles("ufb", preference="readability")).votes_new == 24
    for b in battles[:6]:
        vote(store, b, b.model_a, "human", voter="alice")
    yield store
    store.engine.dispose()


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, dict[str, Battle]]]:
    """b1..b9: three pairs of S, M, L on demo-001 (algorithms), demo-002 (debugging) and
    demo-007 (sql); b10: S vs M on set "other" (algorithms). Votes by hand (see each line)."""
    folder = tmp_path_factory.mktemp("hand")
    store = open_store(folder)
    ensure_demo_pack(store)
    bs: list[Battle] = []
    for category in ("algorithms", "debugging", "sql"):
        bs += run_battles(store, [S, M, L], "demo", category=category, limit=1)
    other = folder / "other.jsonl"
    other.write_text(json.dumps({"id": "o1", "prompt": "Sort a list.", "category": "algorithms",
                                 "language": "python", "answers": {S: "sorted(xs)", M: "xs.sort()"}}) + "\n")
    import_prompt_file(store, other, "jsonl", "other")
    bs += run_battles(store, [S, M], "other")
    p1, p2, p3 = (next(p.id for p in store.prompts("demo") if p.external_id == e)
                  for e in ("demo-001", "demo-002", "demo-007"))
    b = {"b1": find(bs, p1, S, M), "b2": find(bs, p1, S, L), "b3": find(bs, p1, M, L),
         "b4": find(bs, p2, S, M), "b5": find(bs, p2, S, L), "b6": find(bs, p2, M, L),
         "b7": find(bs, p3, S, M), "b8": find(bs, p3, S, L), "b9": find(bs, p3, M, L),
         "b10": bs[-1]}
    # b1: everyone says S (humans alice + bob, jx twice, rx 5 vs 3)
    vote(store, b["b1"], S, "human", voter="alice")
    vote(store, b["b1"], S, "human", voter="bob")
    vote(store, b["b1"], S, game=0)
    vote(store, b["b1"], S, game=1)
    scored(store, b["b1"], {S: 5, M: 3})
    # b2: human S, jx L -> disagree; b3: jx M then L -> tie
    vote(store, b["b2"], S, "human", voter="alice")
    vote(store, b["b2"], L)
    vote(store, b["b3"], M, game=0)
    vote(store, b["b3"], L, game=1)
    # b4: both bad; b5: rx alone, 4 vs 3; b6: humans split -> tie
    vote(store, b["b4"], "both_bad", "human", voter="alice")
    scored(store, b["b5"], {S: 4, L: 3})
    vote(store, b["b6"], M, "human", voter="alice")
    vote(store, b["b6"], L, "human", voter="bob")
    # b7: jx and alice say M; b8: ry says S, its scores only in answer ratings (5 vs 1)
    vote(store, b["b7"], M)
    vote(store, b["b7"], M, "human", voter="alice")
    vote(store, b["b8"], S, "ry", kind="rubric")
    for model, score in ((S, 5.0), (L, 1.0)):
        gid = b["b8"].generation_a_id if b["b8"].model_a == model else b["b8"].generation_b_id
        store.save_answer_rating(AnswerRating(gid, "ry", "rubric", score, 5))  # type: ignore[arg-type]
    # b9: rx L (5 vs 2) and jx L; b10: alice S
    scored(store, b["b9"], {L: 5, M: 2})
    vote(store, b["b9"], L)
    vote(store, b["b10"], S, "human", voter="alice")
    yield store, b
    store.engine.dispose()


def write_edge_prompts(path: Path) -> Path:
    rows = [{"id": "e1", "prompt": "Reverse a list.", "category": "algorithms", "language": "python",
             "answers": {S: "xs[::-1]", M: "list(reversed(xs))", L: "xs[::-1]", T: "rev(xs)"}},
            {"id": "e2", "prompt": "Parse a date.", "category": "strings", "language": "python"},
            {"id": "e3", "prompt": "Add two numbers.", "category": "basics", "language": "python",
             "answers": {S: "a + b", M: "sum((a, b))", L: "a+b  # add", T: "add(a, b)"}}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("edge")
    store = open_store(folder)
    import_prompt_file(store, write_edge_prompts(folder / "edge.jsonl"), "jsonl", "edge")
    bs = run_battles(store, [S, M, L, T], "edge", limit=1)  # the six pairs on e1
    assert len(bs) == 6
    # alice: S beats everyone, M beats L and T, L beats T (L's text is S's text)
    for winner, loser in ((S, M), (S, L), (S, T), (M, L), (M, T), (L, T)):
        vote(store, find(bs, bs[0].prompt_id, winner, loser), winner, "human", voter="alice")
    prompts = {p.external_id: p for p in store.prompts("edge")}
    e2 = prompts["e2"]
    first = {"role": "user", "content": e2.text}
    gens = {}
    for model, earlier in ((S, "first answer by S"), (M, "first answer by M")):
        conv = [first, {"role": "assistant", "content": earlier},
                {"role": "user", "content": "Now handle time zones."}]
        gens[model] = store.save_generation(e2.id, model, f"tz-aware answer by {model}", Usage(), {},  # type: ignore[arg-type]
                                            None, "stop", sample_index=1, messages=conv)
    live = store.ensure_battles([(e2.id, S, M)], None, slot="live:multi-turn")[0]  # type: ignore[list-item]
    live = store.set_battle_generations(live.id, gens[S].id, gens[M].id, "ready")
    vote(store, live, M, "human", voter="alice")
    # hand ratings by "rr": e3 ties at both ends, e1 all equal, e2 a single answer
    all_gens = store.generations([p.id for p in prompts.values()], [S, M, L, T])  # type: ignore[misc]
    for ext, scores in (("e3", {S: 4, M: 4, L: 2, T: 2}), ("e1", {S: 3, M: 3, T: 3})):
        for model, score in scores.items():
            gid = all_gens[(prompts[ext].id, model)].id
            store.save_answer_rating(AnswerRating(gid, "rr", "rubric", score, 5))  # type: ignore[arg-type]
    store.save_answer_rating(AnswerRating(gens[S].id, "rr", "rubric", 5, 5))  # type: ignore[arg-type]
    yield store, {"battles": bs, "live": live}
    store.engine.dispose()


# -- shapes, TRL, formats --------------------------------------------------------------------
def test_record_shapes_load_with_datasets_and_trl_accepts_them(
        real: Store, tmp_path: Path, tiny_llama: Path) -> None:
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    tok = AutoTokenizer.from_pretrained(tiny_llama, local_files_only=True)
    keys = {("dpo", False): {"prompt", "chosen", "rejected"}, ("dpo", True): {"prompt", "chosen", "rejected"},
            ("sft", False): {"prompt", "completion"}, ("sft", True): {"messages"}}
    for (kind, conv), expected in keys.items():
        out = tmp_path / f"{kind}-{conv}.jsonl"
        records, meta = export(real, out, kind, conversational=conv)
        assert records and meta["counts"]["written"] == len(records)
        ds = load_dataset("json", data_files=str(out), split="train")
        assert set(ds.column_names) == expected | {"metadata"} and len(ds) == len(records)
        row = ds[0]
        assert is_conversational(row) is conv
        if not conv:
            assert all(isinstance(row[k], str) for k in expected)
            continue
        applied = maybe_apply_chat_template(row, tok)
        if kind == "dpo":
            assert row["prompt"][-1]["role"] == "user"
            assert row["chosen"] == [{"role": "assistant", "content": records[0]["chosen"][0]["content"]}]
            assert set(applied) >= {"prompt", "chosen", "rejected"}
            assert applied["prompt"].endswith("<|assistant|>\n")
            assert applied["chosen"].startswith(row["chosen"][0]["content"][:20])
        else:
            assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
            assert "<|assistant|>" in applied["text"]


def test_parquet_and_datasets_folder_round_trip(real: Store, tmp_path: Path) -> None:
    from datasets import Dataset, load_from_disk

    records, _ = export(real, tmp_path / "pairs.jsonl", conversational=True)
    export(real, tmp_path / "pairs.parquet", conversational=True)
    assert Dataset.from_parquet(str(tmp_path / "pairs.parquet")).to_list() == records
    folder = tmp_path / "pairs-hf"
    export(real, folder, fmt="hf", conversational=True)
    assert load_from_disk(str(folder)).to_list() == records
    assert json.loads(meta_path_for(folder).read_text())["format"] == "hf"
    export(real, folder, fmt="hf", max_per_prompt=1)  # a saved dataset is replaced whole
    assert len(load_from_disk(str(folder))) == len({r["metadata"]["prompt_id"] for r in records})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "pairs-hf", "pairs-hf.meta.json", "pairs.jsonl", "pairs.jsonl.meta.json",
        "pairs.parquet", "pairs.parquet.meta.json"]


def test_provenance_and_sidecar(real: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-planted-never-exported")
    out = tmp_path / "p.jsonl"
    records, meta = export(real, out, judges=("pw", "human"), min_agree=2)
    # alice voted A on six battles; pw agreed on those it called for A
    assert 0 < len(records) <= 6
    for r in records:
        m = r["metadata"]
        assert m["source"] == "battle" and len(m["battle_ids"]) == 1 and m["prompt_set"] == "demo"
        assert m["prompt_id"].startswith("demo-") and m["chosen_side"] == "a"
        assert {v["rater"] for v in m["verdicts"]} == {"pw", "human"}
        assert all(v["outcome"] == "a" for v in m["verdicts"])
        assert m["chosen_model"] != m["rejected_model"] and m["turns"] == 1
        detail = real.battle_detail(m["battle_ids"][0])
        assert r["chosen"] == detail.generation_a.text and r["rejected"] == detail.generation_b.text  # type: ignore[union-attr]
        assert r["prompt"] == detail.prompt.text
    on_disk = json.loads(meta_path_for(out).read_text())
    assert on_disk == meta
    assert meta["command"] == f"arena export dpo --out {out} --judges pw,human --min-agree 2"
    assert meta["kind"] == "dpo" and meta["format"] == "jsonl" and meta["style"] == "standard"
    assert meta["raters"] == ["pw", "human"] and meta["filters"]["min_agree"] == 2
    counts = meta["counts"]
    assert counts["battles_considered"] == 24 and counts["written"] == len(records)
    assert sum(counts["dropped"].values()) + counts["pairs_selected"] == 24
    assert any("a pair needs a winner" in rule for rule in meta["rules"])
    assert meta["arena_version"] and isinstance(meta["elapsed_s"], float)
    assert "sk-planted" not in meta_path_for(out).read_text() + out.read_text()


def test_rubric_rule_on_real_ratings(real: Store, tmp_path: Path) -> None:
    records, meta = export(real, tmp_path / "r.jsonl", rubric="ufb/readability")
    by_prompt: dict[int, list[tuple[float, str]]] = {}
    for ra in real.rated_answers("ufb/readability"):
        by_prompt.setdefault(ra.prompt_id, []).append((ra.rating.score, ra.model))  # type: ignore[arg-type]
    distinct = [p for p, xs in by_prompt.items() if len({s for s, _ in xs}) > 1]
    assert meta["counts"]["prompts_considered"] == 4 and len(records) == len(distinct)
    assert meta["counts"]["dropped"].get("equal_ratings", 0) == 4 - len(distinct)
    for r in records:
        m = r["metadata"]
        pid = next(p.id for p in real.prompts("demo") if p.external_id == m["prompt_id"])
        scores = dict((model, s) for s, model in by_prompt[pid])
        [rating] = m["ratings"]
        assert rating["judge"] == "ufb/readability" and rating["scale_max"] == 5
        assert rating["chosen"] == max(scores.values()) == scores[m["chosen_model"]]
        assert rating["rejected"] == min(scores.values()) == scores[m["rejected_model"]]
        assert m["source"] == "rubric" and m["battle_ids"] == [] and m["answers_rated"] == 4


# -- filters with exact counts ------------------------------------------------------------------
CASES = [  # filters, pairs written, dropped
    ({}, 6, {"disagree": 1, "tie": 2, "both_bad": 1}),
    ({"set_name": "demo"}, 5, {"set": 1, "disagree": 1, "tie": 2, "both_bad": 1}),
    ({"category": "algorithms"}, 2, {"category": 6, "disagree": 1, "tie": 1}),
    ({"language": "sql"}, 3, {"language": 7}),
    ({"min_agree": 2}, 3, {"too_few_raters": 6, "disagree": 1}),
    ({"min_agree": 3}, 1, {"too_few_raters": 9}),
    ({"judges": ("human",)}, 4, {"no_votes": 4, "both_bad": 1, "tie": 1}),
    ({"judges": ("human:bob",)}, 2, {"no_votes": 8}),
    ({"judges": ("jx",)}, 4, {"no_votes": 5, "tie": 1}),
    ({"judges": ("human", "jx"), "min_agree": 2}, 2, {"too_few_raters": 5, "no_votes": 2, "disagree": 1}),
    ({"min_margin": 2}, 3, {"margin": 1, "no_margin": 2, "disagree": 1, "tie": 2, "both_bad": 1}),
    ({"min_margin": 3.5}, 1, {"margin": 3, "no_margin": 2, "disagree": 1, "tie": 2, "both_bad": 1}),
    ({"max_per_prompt": 1}, 4, {"max_per_prompt": 2, "disagree": 1, "tie": 2, "both_bad": 1}),
]


@pytest.mark.parametrize(("filters", "written", "dropped"), CASES,
                         ids=[",".join(c[0]) or "default" for c in CASES])
def test_filter_counts(hand: tuple[Store, dict[str, Battle]], tmp_path: Path,
                       filters: dict[str, Any], written: int, dropped: dict[str, int]) -> None:
    store, _ = hand
    records, meta = export(store, tmp_path / "p.jsonl", **filters)
    assert (len(records), meta["counts"]["dropped"]) == (written, dropped)
    assert meta["counts"]["battles_considered"] == 10


def test_pairs_follow_the_winner_and_carry_every_rater(hand: tuple[Store, dict[str, Battle]],
                                                       tmp_path: Path) -> None:
    store, b = hand
    records, meta = export(store, tmp_path / "p.jsonl")
    assert meta["raters"] == HAND_JUDGES
    got = {r["metadata"]["battle_ids"][0]: r["metadata"] for r in records}
    winners = {"b1": (S, M), "b5": (S, L), "b7": (M, S), "b8": (S, L), "b9": (L, M), "b10": (S, M)}
    assert {k: (got[b[k].id]["chosen_model"], got[b[k].id]["rejected_model"]) for k in winners} == winners
    b1 = got[b["b1"].id]
    assert {v["rater"]: (v["score"], v["games"]) for v in b1["verdicts"]} == {
        "human": (2 if b["b1"].model_a == S else -2, 2), "jx": (2 if b["b1"].model_a == S else -2, 2),
        "rx": (1 if b["b1"].model_a == S else -1, 1)}
    assert b1["ratings"] == [{"judge": "rx", "chosen": 5.0, "rejected": 3.0, "scale_max": 5}]
    assert got[b["b8"].id]["ratings"] == [{"judge": "ry", "chosen": 5.0, "rejected": 1.0, "scale_max": 5}]


def test_sft_takes_the_chosen_answers(hand: tuple[Store, dict[str, Battle]], tmp_path: Path) -> None:
    store, b = hand
    dpo, _ = export(store, tmp_path / "d.jsonl")
    sft, meta = export(store, tmp_path / "s.jsonl", "sft")
    assert [(r["prompt"], r["chosen"]) for r in dpo] == [(r["prompt"], r["completion"]) for r in sft]
    conv, _ = export(store, tmp_path / "c.jsonl", "sft", conversational=True)
    assert [r["messages"][-1] for r in conv] == [{"role": "assistant", "content": r["completion"]} for r in sft]
    assert "de-duplicated per prompt + completion" in meta["rules"]


# -- de-duplication, equal texts, multi-turn, the rubric rule -------------------------------------
def test_duplicates_and_equal_texts(edge: tuple[Store, dict[str, Any]], tmp_path: Path) -> None:
    store, e = edge
    records, meta = export(store, tmp_path / "d.jsonl", set_name="edge", category="algorithms")
    # S>L: same text; L>T repeats S>T (L answered as S did) and joins its record
    assert meta["counts"]["dropped"] == {"same_text": 1, "duplicate": 1, "category": 1}
    assert len(records) == 4
    pairs = {(r["chosen"], r["rejected"]): r["metadata"]["battle_ids"] for r in records}
    s_t, l_t = (find(e["battles"], e["battles"][0].prompt_id, x, T).id for x in (S, L))
    assert pairs[("xs[::-1]", "rev(xs)")] == sorted([s_t, l_t])
    sft, meta = export(store, tmp_path / "s.jsonl", "sft", set_name="edge", category="algorithms")
    assert sorted(r["completion"] for r in sft) == ["list(reversed(xs))", "xs[::-1]"]
    assert meta["counts"]["dropped"] == {"same_text": 1, "duplicate": 3, "category": 1}


def test_max_per_prompt_is_a_seeded_choice(edge: tuple[Store, dict[str, Any]], tmp_path: Path) -> None:
    store, _ = edge
    picks = []
    for seed in range(6):
        records, meta = export(store, tmp_path / "m.jsonl", category="algorithms",
                               max_per_prompt=2, seed=seed)
        again, _ = export(store, tmp_path / "m.jsonl", category="algorithms", max_per_prompt=2, seed=seed)
        assert records == again and len(records) == 2
        assert meta["counts"]["dropped"]["max_per_prompt"] == 2
        picks.append(tuple(r["metadata"]["battle_ids"][0] for r in records))
    assert len(set(picks)) > 1


def test_multi_turn_battle_exports_the_conversation(edge: tuple[Store, dict[str, Any]],
                                                    tmp_path: Path) -> None:
    store, e = edge
    std, _ = export(store, tmp_path / "s.jsonl", category="strings")
    conv, _ = export(store, tmp_path / "c.jsonl", category="strings", conversational=True)
    sft, _ = export(store, tmp_path / "t.jsonl", "sft", category="strings", conversational=True)
    assert len(std) == len(conv) == len(sft) == 1
    assert [m["content"] for m in conv[0]["prompt"]] == [
        "Parse a date.", "first answer by M", "Now handle time zones."]  # the winner's conversation
    assert conv[0]["chosen"][0]["content"] == "tz-aware answer by sample-solid"
    assert std[0]["prompt"] == ("[user]\nParse a date.\n\n[assistant]\nfirst answer by M\n\n"
                                "[user]\nNow handle time zones.")
    m = std[0]["metadata"]
    assert (m["turns"], m["context_differs"], m["battle_ids"]) == (2, True, [e["live"].id])
    assert [x["role"] for x in sft[0]["messages"]] == ["user", "assistant", "user", "assistant"]


def test_rubric_rule_breaks_ties_with_the_seed(edge: tuple[Store, dict[str, Any]], tmp_path: Path) -> None:
    store, _ = edge
    seen = set()
    for seed in range(12):
        records, meta = export(store, tmp_path / "r.jsonl", rubric="rr", seed=seed)
        again, _ = export(store, tmp_path / "r.jsonl", rubric="rr", seed=seed)
        assert records == again and len(records) == 1
        assert meta["counts"] == {"prompts_considered": 3, "pairs_selected": 1, "written": 1,
                                  "dropped": {"equal_ratings": 1, "single_answer": 1}}
        m = records[0]["metadata"]
        assert m["prompt_id"] == "e3" and m["answers_rated"] == 4
        assert m["chosen_model"] in (S, M) and m["rejected_model"] in (L, T)
        assert m["ratings"] == [{"judge": "rr", "chosen": 4.0, "rejected": 2.0, "scale_max": 5}]
        seen.add((m["chosen_model"], m["rejected_model"]))
    assert len(seen) >= 3  # both ends' ties are really drawn


def test_rubric_min_margin(edge: tuple[Store, dict[str, Any]], tmp_path: Path) -> None:
    store, _ = edge
    with pytest.raises(ArenaError, match="margin below --min-margin 1"):
        export(store, tmp_path / "r.jsonl", rubric="rr", min_margin=2.5)
    assert list(tmp_path.iterdir()) == []


# -- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kw", "message"), [
    ({"judges": ("nobody",)}, "--judges: no votes by 'nobody'; judges with votes: jx, rx, ry, human"),
    ({"judges": ("human:carol",)}, "no votes by 'human:carol'"),
    ({"rubric": "nobody/readability"}, "--rubric: no answer ratings by judge 'nobody/readability'; judges with ratings: ry"),
    ({"rubric": "ry", "judges": ("jx",)}, "--judges and --min-agree apply to battle verdicts only"),
    ({"min_agree": 5}, "--min-agree 5 is more than the 4 rater(s) selected (jx, rx, ry, human)"),
    ({"set_name": "nope"}, "no prompt set named 'nope'"),
    ({"min_agree": 2, "category": "debugging"}, "nothing to export: no pairs left from 10 battles considered; "
     "dropped: other --category 7, fewer raters than --min-agree 3; nothing was written"),
])
def test_bad_filters(hand: tuple[Store, dict[str, Battle]], tmp_path: Path, kw: dict[str, Any],
                     message: str) -> None:
    store, _ = hand
    with pytest.raises(ArenaError) as err:
        export(store, tmp_path / "p.jsonl", **kw)
    assert message in str(err.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "fmt", "message"), [
    ("missing/p.jsonl", None, "folder {tmp}/missing does not exist"),
    ("p.csv", None, "unsupported suffix '.csv'; use .jsonl or .parquet, or --format hf"),
    ("p", None, "unsupported suffix '(none)'"),
    ("p.jsonl", "parquet", "--format parquet does not match --out p.jsonl"),
    ("taken", "hf", "exists and is not a saved dataset folder"),
])
def test_bad_destinations(hand: tuple[Store, dict[str, Battle]], tmp_path: Path, name: str,
                          fmt: str | None, message: str) -> None:
    store, _ = hand
    (tmp_path / "taken").write_text("not a dataset")
    with pytest.raises(ArenaError) as err:
        export(store, tmp_path / name, fmt=fmt)
    assert message.format(tmp=tmp_path) in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_nothing_half_written_when_writing_fails(hand: tuple[Store, dict[str, Battle]], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import arena.services.export as export_module

    store, _ = hand
    (tmp_path / "p.jsonl").write_text("old\n")

    def boom(records: list[Any], path: Path, fmt: str) -> None:
        path.write_text("partial")
        raise OSError("disk full")

    monkeypatch.setattr(export_module, "write_data", boom)
    with pytest.raises(OSError):
        export(store, tmp_path / "p.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jsonl"]
    assert (tmp_path / "p.jsonl").read_text() == "old\n"


def test_untrusted_text_is_data(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    nasty = 'x"}\n{"prompt": "injected"}\u2028\x1b[31m {{ bos_token }} <|assistant|>'
    path = tmp_path / "n.jsonl"
    path.write_text(json.dumps({"id": "n1", "prompt": "Say something.",
                                "answers": {S: nasty, M: "plain"}}) + "\n")
    import_prompt_file(store, path, "jsonl", "n")
    [b] = run_battles(store, [S, M], "n")
    vote(store, b, S, "human", voter="alice")
    out = tmp_path / "out" / "n.jsonl"
    out.parent.mkdir()
    records, _ = export(store, out)
    assert len(out.read_text(encoding="utf-8").split("\n")) == 2  # one line and the end
    assert records[0]["chosen"] == nasty
    assert _clean({"a": ["x\ud800y"]}) == {"a": ["x\ufffdy"]}  # what no UTF-8 file can hold
