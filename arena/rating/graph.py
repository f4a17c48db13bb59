"""Graph questions the Bradley-Terry fit must answer before it can trust its answer.

Two of them decide whether a maximum-likelihood rating exists at all:

* Connectivity of the comparison graph: models in different components have no common
  scale, so only the largest component is rated.
* Strong connectivity of the "beat" graph (edge u → v when u won at least part of a game
  against v; a tie gives both edges). Zermelo (1929) and Ford (1957): the likelihood has a
  finite maximiser exactly when this directed graph is strongly connected. A model that won
  (or lost) every game breaks it.

Everything is numpy: label propagation with pointer jumping for components, and boolean
reachability by dense matrix products (batched over bootstrap rounds) for strong connectivity.
"""

from __future__ import annotations

import numpy as np


def connected_labels(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Label of each of ``n`` nodes: the smallest node index of its connected component.

    ``a``/``b`` are edge end points (any integer dtype). Raises nothing for valid indices.
    """
    labels = np.arange(n, dtype=np.int64)
    ea = np.asarray(a, dtype=np.int64)
    eb = np.asarray(b, dtype=np.int64)
    if ea.size == 0:
        return labels
    while True:
        low = np.minimum(labels[ea], labels[eb])
        hooked = labels.copy()
        np.minimum.at(hooked, ea, low)
        np.minimum.at(hooked, eb, low)
        jumped = hooked[hooked]
        if np.array_equal(jumped, labels):
            return labels
        labels = jumped


def beat_adjacency(
    m: int, i: np.ndarray, j: np.ndarray, i_beat_j: np.ndarray, j_beat_i: np.ndarray
) -> np.ndarray:
    """Dense (R, m, m) float adjacency of the beat graph for R stacked count vectors.

    ``i``/``j`` index the P model pairs; ``i_beat_j``/``j_beat_i`` are (R, P) booleans.
    """
    rounds = i_beat_j.shape[0]
    adj = np.zeros((rounds, m, m), dtype=np.float32)
    adj[:, i, j] = i_beat_j
    adj[:, j, i] = j_beat_i
    return adj


def _reach(adj: np.ndarray, start: np.ndarray, forward: bool) -> np.ndarray:
    """Nodes reachable from (forward) or reaching (backward) the boolean (R, m) ``start``."""
    seen = start.astype(np.float32)
    for _ in range(adj.shape[-1]):
        if forward:
            step = np.einsum("ru,ruv->rv", seen, adj)
        else:
            step = np.einsum("ruv,rv->ru", adj, seen)
        grown = np.maximum(seen, (step > 0).astype(np.float32))
        if np.array_equal(grown, seen):
            break
        seen = grown
    return seen > 0


def strongly_connected(adj: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Per round: is the beat graph restricted to ``present`` (R, m) models strongly connected?

    Absent models (no games in that round) are ignored. Raises nothing.
    """
    rounds, m = present.shape
    start = np.zeros((rounds, m), dtype=bool)
    start[np.arange(rounds), np.argmax(present, axis=1)] = True
    fwd = _reach(adj, start, forward=True)
    bwd = _reach(adj, start, forward=False)
    return np.all((fwd & bwd) | ~present, axis=1)


def strong_components(adj: np.ndarray) -> list[np.ndarray]:
    """Strongly connected components of one (m, m) beat graph, largest first.

    Slow path (one reachability per component), used only once the fast check has failed.
    """
    m = adj.shape[0]
    unassigned = np.ones(m, dtype=bool)
    parts: list[np.ndarray] = []
    while unassigned.any():
        v = int(np.argmax(unassigned))
        start = np.zeros((1, m), dtype=bool)
        start[0, v] = True
        both = _reach(adj[None], start, True)[0] & _reach(adj[None], start, False)[0]
        parts.append(np.flatnonzero(both & unassigned))
        unassigned &= ~both
    parts.sort(key=lambda p: (-p.size, int(p[0])))
    return parts
