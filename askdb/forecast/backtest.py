"""Where the backtest cuts the history, and what every method hands back from it.

Every method (the LightGBM forecaster and each baseline) is judged on the same origins: models
train on the history up to ``cutoff`` only, then forecast ``horizon`` steps from each origin
``o >= cutoff`` using the values known at ``o``. Parameters learnt before the cutoff stay fixed
over the backtest, so no evaluated target was ever a training target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from askdb.forecast.series import Series

MIN_ORIGINS = 5  # split conformal at 80% needs at least four calibration errors per step
MAX_ORIGINS = 40  # enough for per-step intervals; Holt-Winters and the baselines stay cheap
MIN_POINTS = 10


@dataclass(frozen=True)
class Plan:
    """The backtest: the last index models may train on, the origins, the horizon."""

    cutoff: int
    origins: np.ndarray
    horizon: int

    def actuals(self, y: np.ndarray) -> np.ndarray:
        """The observed values the backtest forecasts are scored on, shape (origins, horizon)."""
        return y[self.origins[:, None] + np.arange(1, self.horizon + 1)]


@dataclass
class MethodRun:
    """One method's backtest forecasts (origins x horizon) and final forecast, or why it was skipped."""

    name: str
    backtest: np.ndarray | None = None
    forecast: np.ndarray | None = None
    skipped: str | None = None
    info: dict[str, object] = field(default_factory=dict)


class Method(Protocol):
    """A forecasting method: backtest on ``plan``, then forecast past the end of ``series``."""

    name: str

    def run(self, series: Series, plan: Plan) -> MethodRun: ...


def min_points(horizon: int) -> int:
    """The shortest history that leaves a training part and ``MIN_ORIGINS`` whole horizons to score."""
    return max(MIN_POINTS, 2 * horizon + MIN_ORIGINS)


def max_horizon(n: int) -> int:
    """The longest horizon a history of ``n`` points can be backtested on."""
    return max(0, (n - MIN_ORIGINS) // 2)


def plan_backtest(n: int, horizon: int) -> Plan:
    """The cutoff and up to ``MAX_ORIGINS`` evenly spaced origins, the last one ending at the history's end.

    The scored region is a quarter of the history, at least ``horizon + MIN_ORIGINS - 1`` periods and at
    most ten horizons: a tree frozen at the cutoff is not judged on a year it never saw.
    """
    region = max(horizon + MIN_ORIGINS - 1, min(round(0.25 * n), 10 * horizon + MIN_ORIGINS))
    cutoff = n - 1 - region
    candidates = np.arange(cutoff, n - horizon)
    picks = np.unique(np.linspace(0, len(candidates) - 1, min(MAX_ORIGINS, len(candidates))).round())
    return Plan(cutoff, candidates[picks.astype(int)], horizon)
