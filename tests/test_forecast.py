"""The forecaster (issue 18): it beats the baselines where there is a pattern, admits it when it does not,
never trains on a target it is scored on, and refuses bad series with a message that says what to change."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from askdb.errors import ForecastError
from askdb.forecast import forecast, forecast_series, prepare_series
from askdb.forecast.backtest import MethodRun, Plan, plan_backtest
from askdb.forecast.baselines import HoltWinters, _fit_states, _from_states, seasonal_naive
from askdb.forecast.cli import forecast as forecast_command
from askdb.forecast.intervals import half_widths
from askdb.forecast.metrics import scores
from askdb.forecast.model import LightGBMDirect, step_splits
from askdb.forecast.series import Series, guess_columns
from askdb.settings import load_settings

FAST = LightGBMDirect(scale_estimators=0.3)


def hourly(days: int = 30, seed: int = 0, noise: float = 4.0) -> pd.DataFrame:
    """A strong daily curve, a weekend lift and an upward trend, as ads delivery has."""
    rng = np.random.default_rng(seed)
    times = pd.date_range("2025-03-01", periods=24 * days, freq="h")
    i = np.arange(len(times))
    curve = 40 * np.sin(2 * np.pi * (times.hour.to_numpy() - 6) / 24)
    weekend = np.where(times.day_of_week >= 5, 15.0, 0.0)
    values = 150 + 0.05 * i + curve + weekend + rng.normal(0, noise, len(i))
    return pd.DataFrame({"stat_time": times, "cost": values})


def daily(days: int = 90, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = pd.date_range("2025-01-01", periods=days, freq="D")
    values = 100 + np.where(times.day_of_week >= 5, 20.0, 0.0) + rng.normal(0, 5, days)
    return pd.DataFrame({"day": times.strftime("%Y-%m-%d"), "orders": values})


class Terrible:
    """A model that always forecasts a million: the baselines must win and the answer must say so."""

    name = "lightgbm"

    def run(self, series: Series, plan: Plan) -> MethodRun:
        return MethodRun(
            self.name, np.full((len(plan.origins), plan.horizon), 1e6), np.full(plan.horizon, 1e6)
        )


def test_model_beats_naive_and_seasonal_naive_on_a_daily_curve_with_trend() -> None:
    result = forecast(hourly(), "stat_time", "cost", horizon=12, model=FAST)
    assert result.metrics["mase"] < 1.0
    assert result.metrics["mase"] < result.baselines["naive"]["mase"] / 2
    assert result.metrics["mae"] < result.baselines["seasonal_naive"]["mae"]
    assert result.chosen == "lightgbm" or result.baselines[result.chosen]["mae"] < result.metrics["mae"]
    assert len(result.points) == 12 and result.points[0].time == pd.Timestamp("2025-03-31 00:00")
    assert all(p.lower <= p.value <= p.upper for p in result.points)
    assert result.lightgbm["steps"] and "phase_mean" in result.lightgbm["importance"]


def test_the_baseline_is_used_when_the_model_does_not_beat_it() -> None:
    result = forecast(daily(), "day", "orders", horizon=7, model=Terrible())
    assert result.chosen in ("naive", "seasonal_naive", "moving_average", "holt_winters")
    assert "did not beat" in result.reason and result.chosen in result.reason
    best = min(result.baselines, key=lambda name: result.baselines[name]["mae"])
    assert result.chosen == best
    assert all(p.value < 1e5 for p in result.points)


@pytest.mark.parametrize("step", [1, 2, 7, 24])
def test_each_fold_trains_only_on_targets_known_at_the_first_validation_origin(step: int) -> None:
    splits = step_splits(400, step)
    assert len(splits) == 3
    for train, valid in splits:
        # row i is origin i with its target at i + step: the last training target is the first
        # validation origin itself (known there), and no training target reaches a validation target
        assert train.max() + step == valid.min()
        assert train.max() + step < valid.min() + step


def test_backtest_models_never_train_on_a_target_past_the_cutoff(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int]] = []
    original = LightGBMDirect._fit

    def spy(self, lgb, design, step, origins, features, target, candidate):
        seen.append((step, int(origins.max()) + step))
        return original(self, lgb, design, step, origins, features, target, candidate)

    monkeypatch.setattr(LightGBMDirect, "_fit", spy)
    frame = hourly(days=20)
    plan = plan_backtest(len(frame), 6)
    forecast(frame, "stat_time", "cost", horizon=6, model=FAST)
    past = [(step, last) for step, last in seen if last > plan.cutoff]
    # exactly one fit per step sees targets past the cutoff: the final refit on every row
    assert sorted(step for step, _ in past) == list(range(1, 7))
    assert all(last == len(frame) - 1 for _, last in past)


def test_the_drift_transform_is_seasonal_naive_plus_the_change_over_the_last_season() -> None:
    from askdb.forecast.features import base, build_design

    frame = hourly(days=10, noise=0.0)
    series = prepare_series(frame, "stat_time", "cost")
    design = build_design(series, 24)
    y, origins = design.y, np.array([100, 150, 200])
    for step in (1, 5, 24):
        expected = y[origins + step - 24] + (y[origins] - y[origins - 24])
        assert np.allclose(base(design, step, origins, "drift"), expected)
    # where a season back is before the history, no drift is added
    assert np.allclose(base(design, 1, np.array([23]), "drift"), base(design, 1, np.array([23]), "season"))


def test_the_profile_transform_is_the_seasons_mean_plus_the_phases_mean_departure() -> None:
    from askdb.forecast.features import base, build_design

    days = pd.date_range("2025-01-01", periods=70, freq="D")
    pattern = np.array([0.0, 1, 2, 3, 4, 20, 30])  # Monday..Sunday departures before centring
    y = 100 + pattern[days.day_of_week] - pattern.mean()
    frame = pd.DataFrame({"day": days, "v": y})
    design = build_design(prepare_series(frame, "day", "v"), 7)
    origins = np.array([60, 62, 63])
    for step in (1, 3, 7):
        # a strictly weekly series: the profile is the series itself
        assert np.allclose(base(design, step, origins, "profile"), y[origins + step - 7])
    spiked = frame.assign(
        v=np.where(np.arange(70) == 56, y + 80, y)
    )  # one odd day (a holiday) eight weeks back
    spiked_design = build_design(prepare_series(spiked, "day", "v"), 7)
    moved = base(spiked_design, 7, np.array([63]), "profile")[0] - y[63]
    # seasonal naive would be 80 off on that weekday a week later; the profile, the spike's eighth less its share
    # of its season's mean
    assert moved == pytest.approx(80 / 8 - 80 / 7 / 8)


def test_a_candidate_without_trees_forecasts_its_base_alone_and_the_answer_says_so() -> None:
    from askdb.forecast.features import base, build_design
    from askdb.forecast.model import Candidate

    frame = daily(days=120)
    series = prepare_series(frame, "day", "orders")
    plan = plan_backtest(120, 7)
    run = LightGBMDirect(grid=(Candidate("profile", 0, 0, 0.1),)).run(series, plan)
    design = build_design(series, 7)
    expected = np.column_stack([base(design, step, plan.origins, "profile") for step in range(1, 8)])
    assert run.backtest is not None and np.allclose(run.backtest, expected)
    assert run.info["steps"] == ["profile/no trees"] * 7 and run.info["importance"] == {}
    from askdb.forecast.pipeline import _choose

    steps = ["profile/no trees"] * 5 + ["last/4 leaves/80 trees"] * 2
    model = MethodRun("lightgbm", info={"steps": steps, "base_only": ["profile"] * 5})
    scored = {"lightgbm": {"mae": 1.0, "mase": 0.5}, "naive": {"mae": 3.0, "mase": 1.5}}
    chosen, reason = _choose(model, [MethodRun("naive")], scored)
    assert (
        chosen == "lightgbm"
        and "for 5 of its 7 steps" in reason
        and "profile transform's base alone" in reason
    )
    model.info.update(steps=["last/4 leaves/80 trees"] * 7, base_only=[])
    assert "trees did not help" not in _choose(model, [MethodRun("naive")], scored)[1]


def test_a_long_horizon_chooses_settings_on_a_few_steps_and_the_rest_follow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from askdb.forecast import model as model_module

    chose: list[int] = []
    original = LightGBMDirect._select

    def spy(self, lgb, design, step, *args, **kwargs):
        chose.append(step)
        return original(self, lgb, design, step, *args, **kwargs)

    monkeypatch.setattr(LightGBMDirect, "_select", spy)
    monkeypatch.setattr(model_module, "SELECT_STEPS", 4)
    result = forecast(hourly(days=20), "stat_time", "cost", horizon=12, model=FAST)
    assert chose == [1, 5, 8, 12], "four steps spread over the horizon, its ends included"
    steps = result.lightgbm["steps"]
    assert len(steps) == 12
    # step 2 takes step 1's choice (nearest), 6 takes 5's, 11 takes 12's; 10, as near 8 as 12, takes 8's
    assert steps[1] == steps[0] and steps[5] == steps[4] and steps[10] == steps[11] and steps[9] == steps[7]


def test_seasonal_naive_on_short_history_falls_back_to_naive() -> None:
    assert seasonal_naive(np.array([1.0, 2.0, 3.0]), 4, 7).tolist() == [3.0, 3.0, 3.0, 3.0]
    week = np.arange(1.0, 15.0)  # two weeks: 1..14
    assert seasonal_naive(week, 9, 7).tolist() == [8, 9, 10, 11, 12, 13, 14, 8, 9]
    assert seasonal_naive(week[:7], 2, 7).tolist() == [1.0, 2.0]


def test_holt_winters_forecast_from_states_is_statsmodels_forecast() -> None:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    y = hourly(days=12)["cost"].to_numpy()
    states = _fit_states(y, 200, 24)
    fitted = ExponentialSmoothing(
        y[:201],
        trend="add",
        damped_trend=True,
        seasonal="add",
        seasonal_periods=24,
        initialization_method="estimated",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = fitted.fit().forecast(30)
    np.testing.assert_allclose(_from_states(states, 200, 30, 24), expected, rtol=1e-6)


def test_holt_winters_is_skipped_with_a_reason_on_short_history() -> None:
    series = prepare_series(hourly(days=2), "stat_time", "cost")
    run = HoltWinters().run(series, plan_backtest(48, 6))
    assert run.backtest is None and "two full seasons (50 hourly periods)" in (run.skipped or "")
    result = forecast(hourly(days=2), "stat_time", "cost", horizon=6, model=FAST)
    assert "skipped" in result.baselines["holt_winters"]
    # too short for the model as well: the best baseline answers, and says why
    assert result.chosen != "lightgbm" and "too short for LightGBM" in result.reason
    assert result.metrics == {} and "skipped" in result.to_dict()["lightgbm"]


def test_interval_coverage_is_measured_near_the_nominal_level() -> None:
    frame = daily(days=400, seed=3)
    result = forecast(frame, "day", "orders", horizon=7, model=Terrible())
    assert result.interval["level"] == 0.8
    assert 0.65 <= result.interval["coverage"] <= 0.95


def test_half_widths_are_the_conformal_quantile_per_step() -> None:
    errors = np.column_stack([np.arange(1.0, 11.0), -np.arange(1.0, 11.0) * 2])
    # ceil(11 * 0.8) / 10 = 0.9 -> the 9th of 10 sorted absolute errors, per step
    assert half_widths(errors, 0.8).tolist() == [9.0, 18.0]
    assert half_widths(errors[:3], 0.8).tolist() == [3.0, 6.0]  # few errors: the largest


def test_metrics_leave_out_mape_when_an_actual_is_zero() -> None:
    with_zero = scores(np.array([0.0, 2.0, 4.0]), np.array([1.0, 2.0, 3.0]), scale=1.0)
    assert with_zero["mape"] is None and with_zero["mae"] == pytest.approx(2 / 3)
    assert with_zero["mase"] == pytest.approx(2 / 3) and with_zero["wape"] == pytest.approx(100 * 2 / 6)
    plain = scores(np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.0, 3.0]), scale=None)
    assert plain["mape"] == pytest.approx(100 * 0.25 / 3) and plain["mase"] is None


def test_missing_periods_are_filled_and_reported() -> None:
    frame = daily().drop(index=[20, 21, 40])
    result = forecast(frame, "day", "orders", horizon=7, model=Terrible())
    assert result.filled == {
        "count": 3,
        "times": ["2025-01-21", "2025-01-22", "2025-02-10"],
        "method": "linear interpolation",
    }
    gap = result.history.loc["2025-01-20":"2025-01-23"].to_numpy()
    np.testing.assert_allclose(gap[1:3], np.linspace(gap[0], gap[3], 4)[1:3])
    zero = prepare_series(frame, "day", "orders", fill="zero")
    assert zero.values.loc["2025-02-10"] == 0.0 and zero.fill_method == "zero"


def test_duplicates_are_refused_or_aggregated_as_asked() -> None:
    frame = daily(days=40)
    doubled = pd.concat([frame, frame.iloc[:5]])
    with pytest.raises(ForecastError, match="10 rows share 5 periods") as caught:
        prepare_series(doubled, "day", "orders")
    assert "GROUP BY" in (caught.value.hint or "")
    summed = prepare_series(doubled, "day", "orders", duplicates="sum")
    assert summed.aggregated == 5 and summed.values.iloc[0] == pytest.approx(2 * frame["orders"].iloc[0])
    hours = hourly(days=14)
    by_day = prepare_series(hours, "stat_time", "cost", "D", duplicates="mean")
    assert len(by_day.values) == 14 and by_day.freq.code == "D"


@pytest.mark.parametrize(
    ("frame", "horizon", "message", "hint"),
    [
        (pd.DataFrame({"day": ["2025-01-01"], "orders": [3.0]}), 1, "only one distinct time", "history"),
        (daily(days=8), 1, "has 8 daily points", "longer history"),
        (daily().assign(orders=0.0), 7, "every value of the series is 0", "value column"),
        (daily().assign(orders=5.0), 7, "every value of the series is 5", "value column"),
        (daily(days=30), 20, "needs at least 45 points", "at most 12 periods"),
        (daily().assign(orders=["n/a"] + [1.0] * 89), 7, "non-numeric values (e.g. 'n/a')", "CAST"),
        (daily().rename(columns={"day": "when"}), 7, "no time column 'day'", "when, orders"),
        (daily().assign(day=range(90)), 7, "holds numbers", "date"),
        (daily().assign(day=["soon"] * 90), 7, "not dates or times", "DATE"),
        (daily().iloc[::3], 7, "3 days", "pass freq"),  # every third day: neither daily nor weekly
        (daily().iloc[[i for i in range(90) if i % 3]], 7, "have no value", "fill='zero'"),
    ],
)
def test_bad_series_raise_a_message_that_says_what_to_change(
    frame: pd.DataFrame, horizon: int, message: str, hint: str
) -> None:
    time_col = "day" if "day" in frame.columns else "when"
    freq = "D" if message == "have no value" else None
    with pytest.raises(ForecastError) as caught:
        forecast(frame, time_col if message != "no time column 'day'" else "day", "orders", horizon, freq)
    assert message in caught.value.message, caught.value.one_line()
    assert hint in caught.value.one_line()


def test_frequencies_are_inferred_and_weeks_keep_their_weekday() -> None:
    months = pd.DataFrame({"m": pd.date_range("2020-01-01", periods=30, freq="MS"), "v": np.arange(30.0)})
    assert prepare_series(months, "m", "v").freq.code == "M"
    sundays = pd.DataFrame({"w": pd.date_range("2024-01-07", periods=30, freq="W-SUN"), "v": np.arange(30.0)})
    weekly = prepare_series(sundays, "w", "v")
    assert weekly.freq.code == "W" and weekly.future_index(1)[0] == pd.Timestamp("2024-08-04")
    assert prepare_series(hourly(days=2), "stat_time", "cost").season == 24


def test_forecasts_of_a_nonnegative_series_stay_nonnegative() -> None:
    frame = hourly(days=10, noise=1.0)
    frame["cost"] = np.clip(frame["cost"] - 150, 0, None)  # nights at zero, as spend is
    result = forecast(frame, "stat_time", "cost", horizon=8, model=FAST)
    assert all(p.lower >= 0 and p.value >= 0 for p in result.points)
    assert result.metrics["mape"] is None  # zero actuals in the backtest


def test_to_dict_is_the_documented_json() -> None:
    result = forecast_series(prepare_series(daily(), "day", "orders"), 7, model=Terrible())
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data["forecast"][0]) == {"time", "value", "lower", "upper"}
    assert data["forecast"][0]["time"] == "2025-04-01"
    assert data["chosen"] in data["baselines"] and set(data["metrics"]) >= {
        "mae",
        "rmse",
        "r2",
        "smape",
        "wape",
        "mase",
    }
    assert data["backtest"]["origins"] >= 5 and data["series"]["freq"] == "D"
    assert "history" not in data and len(result.to_dict(history=True)["history"]) == 90
    assert "orders（预测）" in result.table_markdown() and "**" + result.chosen in result.metrics_markdown()


def test_columns_are_guessed_as_the_first_datetime_like_and_the_first_numeric() -> None:
    frame = pd.DataFrame(
        {"platform": ["抖音"] * 3, "d": ["2025-01-01", "2025-01-02", "2025-01-03"], "n": [1, 2, 3]}
    )
    assert guess_columns(frame) == ("d", "n")
    assert guess_columns(frame, value_col="n", time_col="d") == ("d", "n")
    with pytest.raises(ForecastError, match="no column of dates"):
        guess_columns(frame[["platform", "n"]])


# ---- the command -------------------------------------------------------------------------------


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    ctx.obj = load_settings()


cli.add_command(forecast_command)


def test_cli_prints_the_forecast_metrics_and_choice_from_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    daily().drop(index=[30]).to_csv(path, index=False)
    shown = CliRunner().invoke(cli, ["forecast", "--csv", str(path), "--horizon", "5"])
    assert shown.exit_code == 0, shown.output
    assert (
        "orders（预测）" in shown.output and "chosen: " in shown.output and "seasonal_naive" in shown.output
    )
    assert "filled: 1 missing periods by linear interpolation: 2025-01-31" in shown.output
    as_json = CliRunner().invoke(cli, ["forecast", "--csv", str(path), "--horizon", "5", "--json"])
    data = json.loads(as_json.output)
    assert len(data["forecast"]) == 5 and data["chosen"] and data["filled"]["count"] == 1


def test_cli_bad_input_is_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "flat.csv"
    daily().assign(orders=0).to_csv(path, index=False)
    runner = CliRunner()
    flat = runner.invoke(cli, ["forecast", "--csv", str(path)])
    neither = runner.invoke(cli, ["forecast"])
    for result, fragment in [
        (flat, "every value of the series is 0"),
        (neither, "exactly one of --sql or --csv"),
    ]:
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert (
            result.exit_code != 0
            and len(lines) == 1
            and lines[0].startswith("error: ")
            and fragment in lines[0]
        )


def test_cli_runs_sql_through_the_guard_read_only(tmp_path: Path) -> None:
    from askdb.schemas.load import build_sqlite

    url = f"sqlite:///{build_sqlite(tmp_path / 'ads.db', scale=0.02)}"
    sql = "SELECT DATE(order_time) AS d, COUNT(*) AS n FROM ads_order GROUP BY DATE(order_time)"
    done = CliRunner().invoke(cli, ["forecast", "--sql", sql, "--db", url, "--horizon", "3", "--json"])
    assert done.exit_code == 0, done.output
    assert len(json.loads(done.output)["forecast"]) == 3
    refused = CliRunner().invoke(cli, ["forecast", "--sql", "DELETE FROM ads_order", "--db", url])
    assert refused.exit_code == 1 and "error: " in refused.output and "DELETE" in refused.output
    capped = CliRunner().invoke(cli, ["forecast", "--sql", sql, "--db", url, "--max-rows", "20"])
    assert capped.exit_code != 0 and "more than 20 rows" in capped.output
