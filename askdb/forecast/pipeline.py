"""One forecast from rows: check the series, backtest every method on the same origins, choose,
forecast, and put a band round it.

The model's forecast is used only when its backtest MAE (equivalently MASE: every method shares
the scale) is below the best baseline's; otherwise the best baseline's forecast is the answer and
``reason`` says so. When every value of the history is at least zero, forecasts and lower bounds
are kept at zero or above (spend, clicks and orders are never negative), in the backtest too.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from askdb.errors import ForecastError
from askdb.forecast.backtest import Method, MethodRun, Plan, max_horizon, min_points, plan_backtest
from askdb.forecast.baselines import BASELINES
from askdb.forecast.intervals import bands, half_widths, measured_coverage
from askdb.forecast.metrics import mase_scale, scores
from askdb.forecast.model import LightGBMDirect
from askdb.forecast.result import Forecast, ForecastPoint, time_text
from askdb.forecast.series import Duplicates, Fill, Series, prepare_series


def forecast(
    frame: pd.DataFrame,
    time_col: str,
    value_col: str,
    horizon: int,
    freq: str | None = None,
    *,
    duplicates: Duplicates = "refuse",
    fill: Fill = "interpolate",
    level: float = 0.8,
    model: Method | None = None,
) -> Forecast:
    """Forecast ``value_col`` of ``frame`` for ``horizon`` periods past its last time.

    Args:
        frame: rows with a time column and a numeric column (the result of a query, a CSV).
        time_col: the dates or times.
        value_col: the values to forecast.
        horizon: how many periods ahead (hours for an hourly series, days for a daily one...).
        freq: ``30min``, ``H``, ``D``, ``W`` or ``M``; inferred from the times when None.
        duplicates: several rows in one period are refused (default), summed or averaged.
        fill: missing periods are interpolated linearly (default) or set to zero (counts, sums).
        level: the prediction interval's nominal coverage.
        model: the forecaster judged against the baselines (default: LightGBM direct multi-step).

    Returns:
        A ``Forecast``: points with bands, the chosen method and why, backtest metrics of the
        model and of every baseline, the measured coverage, and what was filled.

    Raises:
        ForecastError: the rows are no usable series (see ``prepare_series``), the series is too
            short, all zeros or constant, or the horizon is too long for the history.
        ConfigError: lightgbm (the ``forecast`` extra) is not installed.
    """
    started = time.perf_counter()
    _check_horizon(horizon)
    series = prepare_series(frame, time_col, value_col, freq, duplicates=duplicates, fill=fill)
    return forecast_series(series, horizon, level=level, model=model, started=started)


def forecast_series(
    series: Series,
    horizon: int,
    *,
    level: float = 0.8,
    model: Method | None = None,
    baselines: Sequence[Method] = BASELINES,
    started: float | None = None,
) -> Forecast:
    """Backtest, choose and forecast an already regular ``Series`` (see ``forecast`` for the arguments)."""
    started = time.perf_counter() if started is None else started
    if not 0 < level < 1:
        raise ForecastError(f"interval level {level} is not between 0 and 1", hint="use e.g. 0.8 or 0.95")
    y = series.values.to_numpy(dtype=float)
    _check_values(y, horizon, series)
    plan = plan_backtest(len(y), horizon)
    floor = 0.0 if y.min() >= 0 else None
    runs = [_clipped(m.run(series, plan), floor) for m in (model or LightGBMDirect(), *baselines)]
    actual = plan.actuals(y)
    scale = mase_scale(y[: plan.cutoff + 1], series.season)
    scored = {r.name: scores(actual, r.backtest, scale) for r in runs if r.backtest is not None}
    model_run, baseline_runs = runs[0], runs[1:]
    chosen, reason = _choose(model_run, baseline_runs, scored)
    best = next(r for r in runs if r.name == chosen)
    assert best.backtest is not None and best.forecast is not None
    widths = half_widths(actual - best.backtest, level)
    lower, upper = bands(best.forecast, widths, floor)
    points = tuple(
        ForecastPoint(t, float(v), float(lo), float(hi))
        for t, v, lo, hi in zip(series.future_index(horizon), best.forecast, lower, upper)
    )
    return Forecast(
        points=points,
        chosen=chosen,
        reason=reason,
        metrics=scored.get(model_run.name, {}),
        baselines={r.name: scored.get(r.name, {"skipped": r.skipped}) for r in baseline_runs},
        interval={
            "level": level,
            "coverage": measured_coverage(actual, best.backtest, level, floor),
            "method": "split conformal per step on the backtest errors; coverage: calibrated on the "
            "earlier half of the origins, measured on the later half",
        },
        backtest=_backtest_info(series, plan, scale),
        filled={
            "count": len(series.filled),
            "times": [time_text(t, series.freq.code) for t in series.filled],
            "method": series.fill_method,
        },
        series={
            "time_col": series.values.index.name,
            "value_col": series.values.name,
            "freq": series.freq.code,
            "season": series.season,
            "points": len(y),
            "aggregated": series.aggregated,
        },
        lightgbm={"skipped": model_run.skipped} if model_run.skipped else dict(model_run.info),
        fit_seconds=time.perf_counter() - started,
        history=series.values,
    )


def _check_horizon(horizon: int) -> None:
    if not isinstance(horizon, (int, np.integer)) or isinstance(horizon, bool) or horizon < 1:
        raise ForecastError(f"horizon {horizon!r} is not a whole number of periods ≥ 1", hint="use e.g. 7")


def _check_values(y: np.ndarray, horizon: int, series: Series) -> None:
    label, n = series.freq.label, len(y)
    _check_horizon(horizon)
    if n < min_points(1):
        raise ForecastError(
            f"the series has {n} {label} point{'s' if n != 1 else ''}; a forecast needs at least {min_points(1)}",
            hint="query a longer history (or a finer period)",
        )
    if np.all(y == 0):
        raise ForecastError(
            "every value of the series is 0: there is nothing to forecast",
            hint="check the query's value column and filters",
        )
    if np.all(y == y[0]):
        raise ForecastError(
            f"every value of the series is {y[0]:g}: a constant has no pattern to learn or to test",
            hint="check the query's value column and filters",
        )
    if n < min_points(horizon):
        raise ForecastError(
            f"a horizon of {horizon} {label} periods needs at least {min_points(horizon)} points of history "
            f"(a training part and whole horizons to backtest); the series has {n}",
            hint=f"ask for at most {max_horizon(n)} periods, or query a longer history",
        )


def _clipped(run: MethodRun, floor: float | None) -> MethodRun:
    if floor is not None and run.backtest is not None and run.forecast is not None:
        run.backtest = np.maximum(run.backtest, floor)
        run.forecast = np.maximum(run.forecast, floor)
    return run


def _choose(
    model: MethodRun, baselines: Sequence[MethodRun], scored: dict[str, dict[str, float | None]]
) -> tuple[str, str]:
    """The method whose forecast is used, and one sentence saying why."""
    ranked = sorted(
        (r for r in baselines if r.name in scored), key=lambda r: float(scored[r.name]["mae"] or 0)
    )
    best = ranked[0].name
    best_text = _score_text(scored[best])
    if model.name not in scored:
        return best, f"{model.name} was skipped ({model.skipped}); {best} had the best backtest ({best_text})"
    model_text = _score_text(scored[model.name])
    if float(scored[model.name]["mae"] or 0) < float(scored[best]["mae"] or 0):
        return (
            model.name,
            f"{model.name}'s backtest {model_text} beats the best baseline, {best} ({best_text})"
            + _treeless_text(model.info),
        )
    return best, (
        f"{model.name}'s backtest {model_text} did not beat {best}'s {best_text}, so the forecast is {best}'s"
    )


def _treeless_text(info: dict[str, object]) -> str:
    """What to add to the reason when cross-validation chose a base with no trees for some steps."""
    bare, steps = info.get("base_only"), info.get("steps")
    if not isinstance(bare, list) or not bare or not isinstance(steps, list):
        return ""
    return (
        f"; for {len(bare)} of its {len(steps)} steps cross-validation found that trees did not help, "
        f"and the forecast there is the {'/'.join(sorted(set(bare)))} transform's base alone"
    )


def _score_text(metrics: dict[str, float | None]) -> str:
    mase = metrics.get("mase")
    return f"MASE {mase:.3f}" if mase is not None else f"MAE {metrics['mae']:.4g}"


def _backtest_info(series: Series, plan: Plan, scale: float | None) -> dict[str, object]:
    index = series.values.index
    code = series.freq.code
    return {
        "cutoff": time_text(index[plan.cutoff], code),
        "origins": len(plan.origins),
        "first_origin": time_text(index[plan.origins[0]], code),
        "last_origin": time_text(index[plan.origins[-1]], code),
        "horizon": plan.horizon,
        "mase_scale": scale,
    }
