"""Whether a question asks about the future (预测, 下周, 未来7天 ...) and how far ahead.

Pure text rules, no model: the assistant asks for the history series and forecasts it only when a
question says so, and the horizon a person named (下周: 7 days, 未来48小时: 48 hours) is turned
into periods of whatever frequency the series the SQL returns has.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from askdb.errors import ForecastError
from askdb.forecast.backtest import max_horizon
from askdb.forecast.series import Series, guess_columns, prepare_series

if TYPE_CHECKING:
    import pandas as pd

    from askdb.forecast.result import Forecast

# the periods a question can name, in days (an hour is 1/24)
_UNIT_DAYS = {
    "小时": 1 / 24,
    "天": 1.0,
    "日": 1.0,
    "周": 7.0,
    "星期": 7.0,
    "个月": 30.0,
    "月": 30.0,
    "年": 365.0,
}
_FREQ_DAYS = {"30min": 1 / 48, "H": 1 / 24, "D": 1.0, "W": 7.0, "M": 30.0}
_NUMERALS = {
    "一": 1,
    "两": 2,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}

_SPAN = re.compile(
    r"(?:未来|接下来|之后|往后|下)\s*([0-9]+|[一两二三四五六七八九十]+)\s*(小时|天|日|周|星期|个月|月|年)"
)
_NEXT = {"明天": 1.0, "后天": 2.0, "下周": 7.0, "下星期": 7.0, "下个月": 30.0, "下月": 30.0, "明年": 365.0}
_WORDS = re.compile(r"预测|预计|预估|未来|接下来|走势会|会是多少|forecast|predict", re.IGNORECASE)


@dataclass(frozen=True)
class ForecastIntent:
    """A question about the future; ``days``: how far ahead it asked (None: it did not say)."""

    days: float | None = None

    def horizon(self, freq: str, default: int) -> int:
        """The periods of a series of ``freq`` that cover what was asked (``default`` when nothing was)."""
        if self.days is None:
            return default
        return max(1, math.ceil(self.days / _FREQ_DAYS[freq] - 1e-9))


def forecast_intent(question: str) -> ForecastIntent | None:
    """The future a question asks about, or None for a question about what happened."""
    span = _SPAN.search(question)
    if span:
        return ForecastIntent(_number(span.group(1)) * _UNIT_DAYS[span.group(2)])
    for word, days in _NEXT.items():
        if word in question:
            return ForecastIntent(days)
    return ForecastIntent() if _WORDS.search(question) else None


def _number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    if text.startswith("十"):  # 十五
        return 10 + _NUMERALS[text[1]]
    if "十" in text:  # 二十, 二十四
        tens, _, ones = text.partition("十")
        return _NUMERALS[tens] * 10 + (_NUMERALS[ones] if ones else 0)
    value = _NUMERALS.get(text)
    if value is None:
        raise ForecastError(f"cannot read the number {text!r} in the question", hint="write it in digits")
    return value


_PERIOD_ZH = {"30min": "半小时", "H": "小时", "D": "天", "W": "周", "M": "月"}
_FILL_ZH = {"interpolate": "线性插值", "zero": "0"}
# periods ahead when the question names no span: a day of hours, a week of days, a quarter of weeks
DEFAULT_HORIZON = {"30min": 48, "H": 24, "D": 7, "W": 13, "M": 12}


@dataclass(frozen=True)
class PlannedForecast:
    """The series a question's rows make, how far ahead to forecast it, and why less than asked, if so."""

    series: Series
    horizon: int
    asked: int
    cut: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "time_col": self.series.values.index.name,
            "freq": self.series.freq.code,
            "horizon": self.horizon,
        }


def plan_forecast(frame: pd.DataFrame, intent: ForecastIntent) -> PlannedForecast:
    """The rows as a regular series (first time column, first numeric one) and the horizon to use.

    Raises:
        ForecastError: the rows are no series (no time column, no number, too short, constant ...).
    """
    time_col, value_col = guess_columns(frame)
    series = prepare_series(frame, time_col, value_col)
    code = series.freq.code
    asked = intent.horizon(code, DEFAULT_HORIZON[code])
    most = max_horizon(len(series.values))
    if most < 1 or asked <= most:
        return PlannedForecast(series, asked, asked)  # too short at all: forecast_series says why
    cut = (
        f"历史只有 {len(series.values)} 期(每期一{_PERIOD_ZH[code]}),最多能预测并回测 {most} 期,"
        f"问题要的是 {asked} 期:只预测了前 {most} 期。查询更长的历史可以预测得更远。"
    )
    return PlannedForecast(series, most, asked, cut)


def forecast_markdown(result: Forecast) -> str:
    """The forecast as the answer shows it: the table with its band, which method and why, the backtest."""
    coverage = result.interval.get("coverage")
    band = f",实测覆盖率 {coverage:.0%}" if isinstance(coverage, (int, float)) else ""
    method = "LightGBM 直接多步预测" if result.chosen == "lightgbm" else f"基线方法 {result.chosen}"
    lines = [
        f"**预测**({method};区间为 {result.interval['level']:.0%} 预测区间{band})",
        "",
        result.table_markdown(),
        "",
        f"选择依据:{_reason_zh(result)}",
    ]
    if result.filled.get("count"):
        how = _FILL_ZH.get(result.filled.get("method", ""), result.filled.get("method", ""))
        lines.append(f"历史中缺失的 {result.filled['count']} 期已用{how}补齐。")
    lines += [
        "",
        "**回测**(与各基线方法在相同窗口上比较,MASE < 1 表示优于季节性朴素预测)",
        "",
        result.metrics_markdown(),
    ]
    return "\n".join(lines)


def _reason_zh(result: Forecast) -> str:
    """Why this method's forecast, from the backtest MASE of LightGBM and of the best baseline."""
    ranked = {k: v["mase"] for k, v in result.baselines.items() if isinstance(v.get("mase"), (int, float))}
    best = min(ranked, key=lambda k: ranked[k]) if ranked else None
    model = result.metrics.get("mase") if result.metrics else None
    if model is None:
        skipped = result.lightgbm.get("skipped", "历史太短")
        return f"LightGBM 没有运行({skipped}),采用回测最好的基线 {result.chosen}。"
    if best is None:
        return f"回测 MASE {model:.3f},没有可比较的基线,采用 LightGBM。"
    if result.chosen == "lightgbm":
        return f"LightGBM 的回测 MASE {model:.3f} 低于最好的基线 {best}({ranked[best]:.3f}),采用 LightGBM。"
    return f"LightGBM 的回测 MASE {model:.3f} 没有低于基线 {best}({ranked[best]:.3f}),所以采用 {result.chosen} 的预测。"
