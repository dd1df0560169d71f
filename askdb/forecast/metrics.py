"""Backtest errors, pooled over every origin and step.

MASE divides the MAE by the in-sample MAE of the seasonal naive rule (one step, one season back)
on the history up to the cutoff, the same scale for every method, so below 1 means closer than
"same time last season" was inside the training history. MAPE is left out (None) when an actual is
zero; SMAPE and WAPE are percentages.
"""

from __future__ import annotations

import numpy as np


def mase_scale(history: np.ndarray, season: int) -> float | None:
    """Mean absolute seasonal difference of ``history`` (plain differences when shorter than a season)."""
    lag = season if len(history) > season else 1
    if len(history) <= lag:
        return None
    scale = float(np.mean(np.abs(history[lag:] - history[:-lag])))
    if scale == 0 and lag > 1:
        return mase_scale(history, 1)
    return scale or None


def scores(actual: np.ndarray, predicted: np.ndarray, scale: float | None) -> dict[str, float | None]:
    """MAE, RMSE, R2, SMAPE, WAPE, MASE and (when no actual is zero) MAPE, as plain floats."""
    a, p = np.ravel(actual).astype(float), np.ravel(predicted).astype(float)
    error = a - p
    mae = float(np.mean(np.abs(error)))
    total = float(np.sum((a - a.mean()) ** 2))
    denominator = np.abs(a) + np.abs(p)
    safe = np.where(denominator == 0, 1.0, denominator)
    smape = float(np.mean(np.where(denominator == 0, 0.0, 2 * np.abs(error) / safe)) * 100)
    weight = float(np.sum(np.abs(a)))
    return {
        "mae": mae,
        "rmse": float(np.sqrt(np.mean(error**2))),
        "r2": 1 - float(np.sum(error**2)) / total if total > 0 else None,
        "smape": smape,
        "wape": float(np.sum(np.abs(error)) / weight * 100) if weight > 0 else None,
        "mase": mae / scale if scale else None,
        "mape": float(np.mean(np.abs(error / a)) * 100) if np.all(a != 0) else None,
    }
