"""What a forecast hands back: the points with their band, and the evidence for them.

``Forecast.to_dict()`` is the JSON of ``askdb forecast --json`` and what the assistant's answer
carries; ``table_markdown()`` and ``metrics_markdown()`` are the two tables a person reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from tabulate import tabulate

from askdb.frames import number_text as frames_number_text


@dataclass(frozen=True)
class ForecastPoint:
    """One future period: the point forecast and the prediction interval around it."""

    time: pd.Timestamp
    value: float
    lower: float
    upper: float


@dataclass(frozen=True)
class Forecast:
    """A forecast of one series and how it was judged.

    Attributes:
        points: one per future period, in time order.
        chosen: ``"lightgbm"`` or the name of the baseline whose forecast this is.
        reason: one sentence on why ``chosen`` was taken (the backtest MASE beside the best other).
        metrics: LightGBM's backtest metrics (mae, rmse, r2, smape, wape, mase, mape); empty when skipped.
        baselines: each baseline's backtest metrics, or ``{"skipped": reason}``.
        interval: ``level``, the ``coverage`` measured on the backtest, and the ``method``.
        backtest: the cutoff, the origins and the horizon every method was scored on.
        filled: how many periods had no value, which, and how they were filled.
        series: the columns, the frequency, its season and the history's length.
        lightgbm: the settings each step chose, the features' shares of gain, or why it was skipped.
        fit_seconds: wall time of checks, backtests and fits.
        history: the regular series that was forecast (after filling), for a chart.
    """

    points: tuple[ForecastPoint, ...]
    chosen: str
    reason: str
    metrics: dict[str, float | None]
    baselines: dict[str, dict[str, Any]]
    interval: dict[str, Any]
    backtest: dict[str, Any]
    filled: dict[str, Any]
    series: dict[str, Any]
    lightgbm: dict[str, Any]
    fit_seconds: float
    history: pd.Series = field(repr=False, compare=False)

    @property
    def freq(self) -> str:
        return str(self.series["freq"])

    def to_dict(self, *, history: bool = False) -> dict[str, Any]:
        """Plain JSON: ``forecast`` (time, value, lower, upper), ``metrics``, ``baselines``, ``chosen`` and the rest."""
        data: dict[str, Any] = {
            "forecast": [
                {"time": time_text(p.time, self.freq), "value": p.value, "lower": p.lower, "upper": p.upper}
                for p in self.points
            ],
            "chosen": self.chosen,
            "reason": self.reason,
            "metrics": self.metrics,
            "baselines": self.baselines,
            "interval": self.interval,
            "backtest": self.backtest,
            "filled": self.filled,
            "series": self.series,
            "lightgbm": self.lightgbm,
            "fit_seconds": round(self.fit_seconds, 3),
        }
        if history:
            data["history"] = [
                {"time": time_text(t, self.freq), "value": float(v)} for t, v in self.history.items()
            ]
        return data

    def frame(self) -> pd.DataFrame:
        """The forecast as a DataFrame: time, value, lower, upper."""
        return pd.DataFrame([vars(p) for p in self.points], columns=["time", "value", "lower", "upper"])

    def table_markdown(self) -> str:
        """The forecast with its band as a GitHub markdown table (headers in Chinese, as answers are)."""
        level = f"{self.interval['level']:.0%}"
        headers = [
            self.series["time_col"],
            f"{self.series['value_col']}（预测）",
            f"下限（{level}）",
            f"上限（{level}）",
        ]
        rows = [
            [time_text(p.time, self.freq), *map(number_text, (p.value, p.lower, p.upper))]
            for p in self.points
        ]
        return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)

    def metrics_markdown(self) -> str:
        """Backtest metrics of LightGBM beside every baseline's, the chosen one marked."""
        names = ("mase", "smape", "mae", "rmse", "r2", "wape", "mape")
        rows = []
        for name, values in {"lightgbm": self.lightgbm_row(), **self.baselines}.items():
            label = f"**{name}** ✓" if name == self.chosen else name
            if "skipped" in values:
                rows.append([label, f"skipped: {values['skipped']}", *[""] * (len(names) - 1)])
            else:
                rows.append([label, *(number_text(values.get(k)) for k in names)])
        headers = ["method", "MASE", "SMAPE %", "MAE", "RMSE", "R2", "WAPE %", "MAPE %"]
        return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)

    def lightgbm_row(self) -> dict[str, Any]:
        return self.metrics if self.metrics else {"skipped": self.lightgbm.get("skipped", "not run")}


def time_text(time: pd.Timestamp, freq: str) -> str:
    """A period as people write it: ``2025-03-01 10:00`` hourly, ``2025-03-01`` daily, ``2025-03`` monthly."""
    if freq in ("H", "30min"):
        return time.strftime("%Y-%m-%d %H:%M")
    return time.strftime("%Y-%m") if freq == "M" else time.strftime("%Y-%m-%d")


def number_text(value: float | None) -> str:
    """A number as the result tables show one (``askdb.frames.number_text``: 1.23, 12,345, 123.46万);
    a metric a method has none of is a dash."""
    return "—" if value is None else frames_number_text(value)
