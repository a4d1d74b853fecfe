"""The statistics the KPIs need: percentiles, and whether two variants' containment really
differs (a two-proportion test).

Why a test at all: with a few dozen calls per variant, a difference of ten points is often
chance. The two-proportion z-test (pooled) is the usual test for "did B contain more calls
than A"; when a cell is small (an expected count under 5) its normal approximation is poor,
so Fisher's exact test is used instead. Both come from scipy. With more than two variants
each is compared with the first, at 5% divided by the number of comparisons (Bonferroni),
so running more variants does not make a chance difference more likely to be called real.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as sp

ALPHA = 0.05


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100, linear between ranks); None without values."""
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else None


def mean(values: Sequence[float]) -> float | None:
    return float(np.mean(np.asarray(values, dtype=float))) if len(values) else None


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Comparison:
    """Variant `variant` against `versus`: the difference in containment and whether it is
    more than chance would give at `alpha`."""

    variant: str
    versus: str
    difference: float  # variant's rate minus versus's, in points of 1
    p_value: float
    test: str  # "two-proportion z-test" | "Fisher's exact test"
    alpha: float
    significant: bool
    z: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["difference"] = round(self.difference, 4)
        out["p_value"] = round(self.p_value, 4)
        out["z"] = None if self.z is None else round(self.z, 3)
        return out

    def describe(self) -> str:
        verdict = ("a real difference" if self.significant
                   else "not significant: could be chance")
        return (f"{self.variant} vs {self.versus}: {self.difference * 100:+.1f} points, "
                f"p = {self.p_value:.3f} ({self.test}, alpha {self.alpha:g}): {verdict}")


def compare(variant: str, hits: int, n: int, versus: str, hits0: int, n0: int, *,
            comparisons: int = 1) -> Comparison | None:
    """Does `variant` (hits of n) differ from `versus` (hits0 of n0)? None when either has
    no calls."""
    if n == 0 or n0 == 0:
        return None
    alpha = ALPHA / max(1, comparisons)
    difference = hits / n - hits0 / n0
    pooled = (hits + hits0) / (n + n0)
    expected = min(pooled * n, (1 - pooled) * n, pooled * n0, (1 - pooled) * n0)
    if expected < 5:
        _, p = sp.fisher_exact([[hits, n - hits], [hits0, n0 - hits0]])
        return Comparison(variant, versus, difference, float(p), "Fisher's exact test", alpha,
                          bool(p < alpha))
    se = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / n0))
    z = difference / se if se else 0.0
    p = float(2 * sp.norm.sf(abs(z)))
    return Comparison(variant, versus, difference, p, "two-proportion z-test", alpha,
                      bool(p < alpha), z)
