"""Prediction intervals from backtest errors: split conformal, one width per step ahead.

Step ``s``'s half-width is the ``ceil((K + 1) * level)``-th smallest of the absolute backtest
errors of step ``s`` over the ``K`` origins. The coverage reported is measured, not
assumed: widths calibrated on the earlier half of the origins, scored on the later half (the order
matters; a series drifts).
"""

from __future__ import annotations

import math

import numpy as np


def half_widths(errors: np.ndarray, level: float) -> np.ndarray:
    """Per-step half-widths from ``errors`` (origins x steps) at ``level``; the largest error when K is small."""
    k = errors.shape[0]
    rank = min(k, math.ceil((k + 1) * level))  # 1-based order statistic
    return np.sort(np.abs(errors), axis=0)[rank - 1]


def measured_coverage(
    actual: np.ndarray, predicted: np.ndarray, level: float, floor: float | None = None
) -> float | None:
    """The share of the later half's actuals inside bands calibrated on the earlier half (None if K < 4)."""
    k = actual.shape[0]
    if k < 4:
        return None
    half = k // 2
    widths = half_widths(actual[:half] - predicted[:half], level)
    lower, upper = bands(predicted[half:], widths, floor)
    return float(np.mean((actual[half:] >= lower) & (actual[half:] <= upper)))


def bands(
    predicted: np.ndarray, widths: np.ndarray, floor: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds around ``predicted``; the lower one never under ``floor`` when given."""
    lower = predicted - widths
    return (np.maximum(lower, floor) if floor is not None else lower), predicted + widths
