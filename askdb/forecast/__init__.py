"""Forecasting a series the database returned: LightGBM direct multi-step beside honest baselines.

    >>> from askdb.forecast import forecast
    >>> result = forecast(rows, "stat_date", "cost", horizon=7)      # doctest: +SKIP
    >>> result.chosen, result.points[0].value, result.to_dict()["metrics"]["mase"]  # doctest: +SKIP

``forecast`` checks and regularises the rows (``series``), backtests the LightGBM forecaster
(``model``) and the baselines (``baselines``) on the same origins (``backtest``), keeps the model
only if it beats the best baseline, and puts per-step conformal bands round the chosen forecast
(``intervals``). Needs the ``forecast`` extra: ``pip install 'askdb[forecast]'``.
"""

from askdb.forecast.pipeline import forecast, forecast_series
from askdb.forecast.result import Forecast, ForecastPoint
from askdb.forecast.series import FREQUENCIES, Series, prepare_series

__all__ = [
    "FREQUENCIES",
    "Forecast",
    "ForecastPoint",
    "Series",
    "forecast",
    "forecast_series",
    "prepare_series",
]
