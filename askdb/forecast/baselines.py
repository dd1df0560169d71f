"""The baselines a forecaster must beat, on the same backtest origins as the model.

naive (the last value), seasonal naive (the same phase one season back; the last value while the
history is shorter than a season), moving average (the mean of the last season), and Holt-Winters
(statsmodels, additive damped trend and additive season) behind a guard: skipped with the reason
when the history before the cutoff holds fewer than two seasons or the fit fails.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from askdb.forecast.backtest import MethodRun, Plan
from askdb.forecast.series import Series

Rule = Callable[[np.ndarray, int, int], np.ndarray]


def naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The last value, for every step."""
    return np.full(horizon, history[-1], dtype=float)


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Step ``s`` gets the value of the same phase in the last whole season; naive on shorter history."""
    if season <= 1 or len(history) < season:
        return naive(history, horizon, season)
    steps = np.arange(horizon)
    return history[len(history) - season + steps % season].astype(float)


def moving_average(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The mean of the last season (or of all the history, when shorter), for every step."""
    return np.full(horizon, history[-max(1, season) :].mean(), dtype=float)


@dataclass(frozen=True)
class Baseline:
    """A rule that needs only the history: run at each origin, then at the end."""

    name: str
    rule: Rule

    def run(self, series: Series, plan: Plan) -> MethodRun:
        y, m = series.values.to_numpy(dtype=float), series.season
        backtest = np.vstack([self.rule(y[: o + 1], plan.horizon, m) for o in plan.origins])
        return MethodRun(self.name, backtest, self.rule(y, plan.horizon, m))


class HoltWinters:
    """statsmodels' ExponentialSmoothing fitted on the history up to the cutoff.

    The fitted smoothing parameters and initial states are then run over the whole series once, and
    each origin's forecast is read from the states at that origin (the same numbers statsmodels'
    ``forecast`` gives for a model fitted to the history up to there with those parameters).
    """

    name = "holt_winters"

    def run(self, series: Series, plan: Plan) -> MethodRun:
        y, m = series.values.to_numpy(dtype=float), series.season
        if plan.cutoff + 1 < 2 * m + 2:
            return MethodRun(
                self.name,
                skipped=f"needs two full seasons ({2 * m + 2} {series.freq.label} periods) before the "
                f"backtest; there are {plan.cutoff + 1}",
            )
        try:
            states = _fit_states(y, plan.cutoff, m)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
            return MethodRun(self.name, skipped=f"the fit failed: {exc}")
        backtest = np.vstack([_from_states(states, o, plan.horizon, m) for o in plan.origins])
        forecast = _from_states(states, len(y) - 1, plan.horizon, m)
        if not (np.isfinite(backtest).all() and np.isfinite(forecast).all()):
            return MethodRun(self.name, skipped="the fit diverged (non-finite forecasts)")
        return MethodRun(self.name, backtest, forecast, info={"damping": float(states[3])})


def _fit_states(y: np.ndarray, cutoff: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    spec = {"trend": "add", "damped_trend": True, "seasonal": "add", "seasonal_periods": m}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; a diverged fit is caught by the finite check
        fitted = ExponentialSmoothing(y[: cutoff + 1], initialization_method="estimated", **spec).fit()
        p = fitted.params
        known = {"initial_level": p["initial_level"], "initial_trend": p["initial_trend"]}
        whole = ExponentialSmoothing(
            y, initialization_method="known", initial_seasonal=p["initial_seasons"], **known, **spec
        ).fit(
            smoothing_level=p["smoothing_level"],
            smoothing_trend=p["smoothing_trend"],
            smoothing_seasonal=p["smoothing_seasonal"],
            damping_trend=p["damping_trend"],
            optimized=False,
        )
    return (
        np.asarray(whole.level),
        np.asarray(whole.trend),
        np.asarray(whole.season),
        float(p["damping_trend"]),
    )


def _from_states(
    states: tuple[np.ndarray, np.ndarray, np.ndarray, float], origin: int, horizon: int, m: int
) -> np.ndarray:
    level, trend, season, phi = states
    steps = np.arange(1, horizon + 1)
    return level[origin] + np.cumsum(phi**steps) * trend[origin] + season[origin - m + 1 + (steps - 1) % m]


BASELINES: tuple[Baseline | HoltWinters, ...] = (
    Baseline("naive", naive),
    Baseline("seasonal_naive", seasonal_naive),
    Baseline("moving_average", moving_average),
    HoltWinters(),
)
