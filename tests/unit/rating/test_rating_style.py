"""Style control: markdown counting, feature construction, and the joint fit."""

from __future__ import annotations

import numpy as np
import pytest

from arena.rating.bt import fit_bt
from arena.rating.data import Comparisons, RatingInputError
from arena.rating.style import (
    STYLE_FEATURES,
    fit_style_controlled,
    markdown_counts,
    style_features,
)

ANSWER = """# Title
Some **bold** text and `**not bold**` and ``a ` tick # not`` inline.
```python
# not a header
- not a list
**not bold**
```
- item one
- item **two**
1. first
2) second
~~~
## hidden
~~~~
* * *
## Sub
__also bold__
````md
```
# inside a longer fence
```
````
#not-a-header
"""


def test_markdown_counts_ignore_code_blocks_and_inline_code() -> None:
    assert markdown_counts(ANSWER) == (2, 4, 3)
    assert markdown_counts("") == (0, 0, 0)
    # an unclosed fence hides everything after it
    assert markdown_counts("# a\n```\n# b\n- c\n") == (1, 0, 0)
    assert markdown_counts("use `#` and `- x`, not **`code`**\n- `item`") == (0, 1, 1)


def test_style_features_normalise_then_standardise() -> None:
    a = np.array([[10, 0, 2, 0], [5, 0, 0, 1], [0, 0, 0, 0]])
    b = np.array([[30, 0, 2, 0], [5, 0, 0, 3], [0, 0, 0, 0]])
    x = style_features(a, b)
    raw0 = np.array([-0.5, 0.0, 0.0])
    np.testing.assert_allclose(x[:, 0], (raw0 - raw0.mean()) / raw0.std())
    assert np.all(x[:, 1] == 0) and np.all(x[:, 2] == 0)  # constant columns stay 0
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-12)
    with pytest.raises(ValueError):
        style_features(a, b[:2])
    with pytest.raises(ValueError):
        style_features(-a, b)


def simulate_style(seed: int, m: int = 8, n: int = 20000):
    """Battles whose outcomes depend on true ratings and on a planted style effect.

    Verbose, heavily formatted models are also the ones voters favour for style, so the
    plain fit credits their style to their rating.
    """
    rng = np.random.default_rng(seed)
    true = rng.normal(1000.0, 100.0, m)
    verbosity = rng.normal(0.0, 0.8, m)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    lam = np.exp(np.array([5.0, 0.5, 1.0, 0.5]))

    def counts(side: np.ndarray) -> np.ndarray:
        return rng.poisson(lam * np.exp(verbosity[side])[:, None] * rng.gamma(4, 0.25, (n, 4)))

    x = style_features(counts(a), counts(b))
    theta = np.array([0.5, 0.15, 0.0, 0.2])
    logit = np.log(10.0) / 400.0 * (true[a] - true[b]) + x @ theta
    code = np.where(rng.random(n) < 1.0 / (1.0 + np.exp(-logit)), 0, 1)
    names = [f"m{k}" for k in range(m)]
    return a, b, code, x, names, true - true.mean() + 1000.0, theta


def score(code: np.ndarray) -> np.ndarray:
    return np.where(code == 0, 1.0, np.where(code == 1, 0.0, 0.5))


def test_style_controlled_fit_recovers_the_planted_effect() -> None:
    a, b, y, x, names, truth, theta = simulate_style(0)
    fit = fit_style_controlled(a, b, score(y), None, x, names)
    assert fit.bt.converged and tuple(fit.coefficients) == STYLE_FEATURES
    got = np.array(list(fit.coefficients.values()))
    np.testing.assert_allclose(got, theta, atol=0.06)
    plain = fit_bt(Comparisons.from_indices(a, b, y, names))
    err_style = np.sqrt(np.mean((fit.bt.ratings - truth) ** 2))
    err_plain = np.sqrt(np.mean((plain.ratings - truth) ** 2))
    assert err_style < 0.5 * err_plain, (err_style, err_plain)


def test_ties_are_two_half_weight_rows_and_models_may_be_unsorted() -> None:
    a, b, y, x, names, _, _ = simulate_style(1, m=5, n=3000)
    y = np.where(np.arange(y.size) % 7 == 0, 2, y)
    rev = names[::-1]  # indices refer to this order
    ra, rb = len(names) - 1 - a, len(names) - 1 - b
    merged = fit_style_controlled(ra, rb, score(y), None, x, rev)
    ties = y == 2
    two_rows = fit_style_controlled(
        np.concatenate([ra[~ties], ra[ties], ra[ties]]),
        np.concatenate([rb[~ties], rb[ties], rb[ties]]),
        np.concatenate([score(y[~ties]), np.ones(ties.sum()), np.zeros(ties.sum())]),
        np.concatenate([np.ones((~ties).sum()), np.full(2 * ties.sum(), 0.5)]),
        np.concatenate([x[~ties], x[ties], x[ties]]),
        rev,
    )
    np.testing.assert_allclose(merged.bt.ratings, two_rows.bt.ratings, atol=1e-8)
    assert merged.bt.models == tuple(names)
    # zero features give exactly the plain fit's ratings
    zero = fit_style_controlled(ra, rb, score(y), None, np.zeros_like(x), rev)
    plain = fit_bt(Comparisons.from_indices(ra, rb, y, rev))
    np.testing.assert_allclose(zero.bt.ratings, plain.ratings, atol=1e-8)
    assert set(zero.coefficients.values()) == {0.0}


def test_style_fit_shares_fit_bt_rules_for_components_and_degenerate_models() -> None:
    a, b, y, x, names, _, _ = simulate_style(3, m=4, n=800)
    names = names + ["lone-1", "lone-2", "champ"]
    extra_a, extra_b = np.array([4, 6, 6]), np.array([5, 0, 1])
    fit = fit_style_controlled(
        np.concatenate([a, extra_a]),
        np.concatenate([b, extra_b]),
        np.concatenate([score(y), [1.0, 1.0, 1.0]]),
        None,
        np.concatenate([x, np.zeros((3, 4))]),
        names,
    )
    assert fit.bt.disconnected == ("lone-1", "lone-2")
    assert fit.bt.degenerate == ("champ",) and fit.bt.l2 == 0.01
    assert fit.bt.models[int(np.argmax(fit.bt.ratings))] == "champ"


def test_style_fit_input_errors() -> None:
    a, b, y, x, names, _, _ = simulate_style(2, m=4, n=500)
    y = score(y)
    with pytest.raises(RatingInputError, match="features"):
        fit_style_controlled(a, b, y, None, x[:10], names)
    with pytest.raises(RatingInputError, match="scores must lie"):
        fit_style_controlled(a, b, y + 1, None, x, names)
    with pytest.raises(RatingInputError, match="collinear"):
        fit_style_controlled(
            a, b, y, None, np.c_[x[:, :1], 2 * x[:, :1]], names, feature_names=("u", "v")
        )
    with pytest.raises(ValueError, match="feature names"):
        fit_style_controlled(a, b, y, None, x, names, feature_names=("tokens",))
