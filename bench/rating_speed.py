"""How fast are the Bradley-Terry engine and its intervals, against the plain per-battle way?

Generates synthetic battles with a fixed seed (true ratings ~ N(1000, 150), ~10% ties,
~2% both bad), then times in one process: aggregation, ``fit_bt``, ``bootstrap_ci`` (100
rounds), ``sandwich_ci``, and the baselines from ``arena.rating.reference`` (L-BFGS on the
per-battle loss, and the naive battle-resampling bootstrap on a few rounds, extrapolated).
Each of our figures is the best of ``--repeat`` runs after one warm-up call (the very first
LAPACK call of a process starts OpenBLAS threads; that one-time cost is printed separately).

    .venv/bin/python bench/rating_speed.py [--battles 1000000 --models 100]
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from arena.rating.bt import fit_bt
from arena.rating.data import Comparisons
from arena.rating.intervals import bootstrap_ci, sandwich_ci
from arena.rating.reference import reference_bootstrap, reference_bt

OUTCOMES = np.array(["a", "b", "tie", "both_bad"])
PUBLISHED = {"fit": 2.65, "bootstrap": 5.5}  # Chatbot Arena's code, 1M battles, 2 cores


def battles(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(a, b, outcome code, names): uniform random pairs, BT outcomes, 10% tie, 2% both bad."""
    rng = np.random.Generator(np.random.PCG64(seed))
    true = rng.normal(1000.0, 150.0, m)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p_a = 1.0 / (1.0 + 10.0 ** ((true[b] - true[a]) / 400.0))
    u = rng.random(n)
    code = np.where(u < 0.10, 2, np.where(u < 0.12, 3, np.where(rng.random(n) < p_a, 0, 1)))
    return a, b, code.astype(np.int8), [f"model-{k:03d}" for k in range(m)]


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Smallest wall time of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def row(label: str, ours: float, base: float | None, note: str = "") -> None:
    ratio = f"{base / ours:8.1f}x" if base else "        -"
    base_s = f"{base:9.3f} s" if base else "          -"
    print(f"{label:<40} {ours:9.4f} s {base_s} {ratio}  {note}")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--ref-rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    return parser.parse_args()


def time_ours(data: tuple[Any, ...], args: argparse.Namespace) -> dict[str, Any]:
    """Cold first call, then best-of timings of aggregation, fit and both interval methods."""
    a, b, code, names, model_a, model_b, outcome = data
    start = time.perf_counter()
    fit_bt(Comparisons.from_indices(a, b, code, names))
    out: dict[str, Any] = {"cold": time.perf_counter() - start}
    out["idx"], comp = best(lambda: Comparisons.from_indices(a, b, code, names), args.repeat)
    out["str"], _ = best(lambda: Comparisons.from_battles(model_a, model_b, outcome), 2)
    out["fit"], out["bt"] = best(lambda: fit_bt(comp), args.repeat)
    out["boot"], (_, out["bi"]) = best(
        lambda: bootstrap_ci(comp, rounds=args.rounds, seed=0), args.repeat
    )
    out["sand"], (_, out["si"]) = best(lambda: sandwich_ci(comp), args.repeat)
    out["rows"], out["mb"] = comp.count.size, peak_mb()
    return out


def time_baselines(data: tuple[Any, ...], args: argparse.Namespace) -> dict[str, Any]:
    """reference_bt once (L-BFGS only, no polish) and a few reference bootstrap rounds."""
    _, _, _, _, model_a, model_b, outcome = data
    out: dict[str, Any] = {}
    out["fit"], out["ratings"] = best(
        lambda: reference_bt(model_a, model_b, outcome, polish=False), 1
    )
    k = args.ref_rounds
    t, _ = best(lambda: reference_bootstrap(model_a, model_b, outcome, rounds=k), 1)
    out["boot"] = t * args.rounds / k
    out["mb"] = peak_mb()
    return out


def report(ours: dict[str, Any], ref: dict[str, Any], args: argparse.Namespace, base_mb: float):
    fit = ours["bt"]
    k = args.ref_rounds
    diff = max(abs(fit.as_dict()[name] - ref["ratings"][name]) for name in ref["ratings"])
    print(
        f"{args.battles:,} battles, {args.models} models, {ours['rows']:,} unique rows; "
        f"fit: {fit.iterations} Newton iterations, converged={fit.converged}"
    )
    print(f"{'step':<40} {'ours':>11} {'baseline':>11} {'speed-up':>9}")
    row("aggregate (from_indices)", ours["idx"], None)
    row("aggregate (from_battles, strings)", ours["str"], None)
    row("fit_bt", ours["fit"], ref["fit"], "baseline: reference_bt, per-battle L-BFGS")
    row("fit_bt (vs published)", ours["fit"], PUBLISHED["fit"], "Chatbot Arena code, measured here")
    row(
        f"bootstrap_ci, {args.rounds} rounds (incl. fit)",
        ours["boot"],
        ref["boot"],
        f"baseline: {k} rounds of reference_bootstrap x {args.rounds / k:.1f}",
    )
    row("bootstrap_ci (vs published)", ours["boot"], PUBLISHED["bootstrap"], "two processes there")
    row(
        "fit_bt + bootstrap_ci",
        ours["fit"] + ours["boot"],
        ref["fit"] + ref["boot"],
        "target <= 0.4 s",
    )
    row("sandwich_ci (incl. fit)", ours["sand"], None, "target <= 0.1 s")
    print(f"first call in this process (aggregate + fit, cold BLAS): {ours['cold']:.3f} s")
    print(f"max |fit_bt - reference_bt (no polish)| = {diff:.2e} rating points")
    widths = [float(np.median(iv.high - iv.low)) for iv in (ours["bi"], ours["si"])]
    print(f"median 95% interval width: bootstrap {widths[0]:.2f}, sandwich {widths[1]:.2f}")
    print(
        f"peak RSS: data {base_mb:.0f} MB, after ours {ours['mb']:.0f} MB, "
        f"after baselines {ref['mb']:.0f} MB"
    )


def main() -> None:
    args = parse()
    a, b, code, names = battles(args.battles, args.models, args.seed)
    name_arr = np.asarray(names)
    data = (a, b, code, names, name_arr[a].tolist(), name_arr[b].tolist(), OUTCOMES[code].tolist())
    base_mb = peak_mb()
    ours = time_ours(data, args)
    ref = time_baselines(data, args)
    report(ours, ref, args, base_mb)


if __name__ == "__main__":
    main()
