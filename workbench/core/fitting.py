"""Least-squares lines with prediction intervals: how a measured quantity grows with N, dimension or size."""

from __future__ import annotations

import math

import numpy as np


def fit_linear(x, y) -> dict:
    """Least squares y = a + b x, with the residual standard error (None with two points or fewer)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0:
        raise ValueError(f"a line needs at least two distinct x values; got {list(x)}")
    design = np.column_stack([np.ones_like(x), x])
    (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
    dof = len(x) - 2
    s = float(np.sqrt(np.sum((y - a - b * x) ** 2) / dof)) if dof > 0 else None
    return {"a": float(a), "b": float(b), "s": s, "n": len(x), "x_mean": float(x.mean()),
            "sxx": float(np.sum((x - x.mean()) ** 2))}


def predict(fit: dict, x: float, level: float | None = None) -> tuple[float, float | None]:
    """Value of a fitted line at x, and its prediction half-width: 2 standard errors (~95 %), or with `level`
    Student's t quantile on n - 2 degrees of freedom (wider, and honest, when few points were fitted)."""
    value = fit["a"] + fit["b"] * x
    if fit["s"] is None:
        return value, None
    se = fit["s"] * math.sqrt(1 + 1 / fit["n"] + (x - fit["x_mean"]) ** 2 / fit["sxx"])
    if level is None:
        return value, 2 * se
    from scipy.stats import t

    return value, float(t.ppf(0.5 + level / 2, fit["n"] - 2)) * se
