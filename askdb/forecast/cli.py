"""``askdb forecast``: a series from a read-only query or a CSV file, forecast beside the baselines."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from askdb.cli_common import handle_errors, print_json, settings_from
from askdb.forecast.intent import DEFAULT_HORIZON

if TYPE_CHECKING:
    import pandas as pd

    from askdb.forecast.result import Forecast
    from askdb.settings import Settings

# A day ahead for sub-daily series, a week for daily, a quarter for weekly, a year for monthly.


@click.command("forecast")
@click.option(
    "--sql", "statement", help="a SELECT returning a time column and a value (guarded, run read-only)"
)
@click.option(
    "--csv", "csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="a CSV file"
)
@click.option("--time-col", help="the column of dates or times (default: the first one that parses as dates)")
@click.option("--value-col", help="the column to forecast (default: the first numeric one)")
@click.option(
    "--horizon",
    type=click.IntRange(min=1),
    help="periods ahead (default: 24 hourly, 7 daily, 13 weekly, 12 monthly)",
)
@click.option(
    "--freq",
    type=click.Choice(["30min", "H", "D", "W", "M"], case_sensitive=False),
    help="the period (default: inferred)",
)
@click.option(
    "--duplicates",
    type=click.Choice(["refuse", "sum", "mean"]),
    default="refuse",
    show_default=True,
    help="several rows in one period",
)
@click.option(
    "--fill",
    type=click.Choice(["interpolate", "zero"]),
    default="interpolate",
    show_default=True,
    help="how a missing period is filled",
)
@click.option("--db", "db_url", help="database URL for --sql (default: ASKDB_DB_URL or the demo database)")
@click.option(
    "--max-rows", type=click.IntRange(min=1), help="rows --sql may return (default: ASKDB_MAX_ROWS)"
)
@click.option(
    "--json", "as_json", is_flag=True, help="print {forecast, metrics, baselines, chosen, ...} as JSON"
)
@click.pass_context
@handle_errors
def forecast(
    ctx: click.Context,
    statement: str | None,
    csv_path: Path | None,
    time_col: str | None,
    value_col: str | None,
    horizon: int | None,
    freq: str | None,
    duplicates: str,
    fill: str,
    db_url: str | None,
    max_rows: int | None,
    as_json: bool,
) -> None:
    """Forecast a series (from --sql or --csv) with LightGBM beside the baselines, with bands and backtest metrics."""
    from askdb.errors import ForecastError
    from askdb.forecast.pipeline import forecast_series
    from askdb.forecast.series import guess_columns, prepare_series

    if (statement is None) == (csv_path is None):
        raise ForecastError(
            "give the series with exactly one of --sql or --csv", hint='e.g. --sql "SELECT ..."'
        )
    settings = settings_from(ctx)
    frame = _query(statement, db_url, max_rows, settings) if statement else _read_csv(csv_path)
    time_col, value_col = guess_columns(frame, time_col, value_col)
    series = prepare_series(frame, time_col, value_col, freq, duplicates=duplicates, fill=fill)  # type: ignore[arg-type]
    result = forecast_series(series, horizon or DEFAULT_HORIZON[series.freq.code])
    if as_json:
        print_json(result.to_dict())
    else:
        click.echo(render(result))


def _query(statement: str, db_url: str | None, max_rows: int | None, settings: Settings) -> pd.DataFrame:
    """Guard the statement and run it read-only, exactly as ``askdb sql run`` does; refuse a cut result."""
    from askdb.db import make_engine, parse_url
    from askdb.errors import ForecastError
    from askdb.schemas.catalog import catalog_for_engine
    from askdb.sql.guard import guard
    from askdb.sql.runner import open_runner, run_tree

    url = db_url or settings.database_url
    cap = max_rows or settings.max_rows
    engine = make_engine(url, read_only=True)
    try:
        catalog = catalog_for_engine(engine)
        database = parse_url(url).database if engine.dialect.name != "sqlite" else None
    finally:
        engine.dispose()
    # One row over the cap, so a history longer than the cap shows up as truncated instead of silently cut.
    tree = guard(statement, catalog, row_limit=cap + 1, database=database)
    runner = open_runner(url, timeout_s=settings.statement_timeout_s, max_rows=cap)
    try:
        result = run_tree(runner, tree)
    finally:
        runner.engine.dispose()
    if result.truncated:
        raise ForecastError(
            f"the query returned more than {cap} rows; a forecast of a cut history would be wrong",
            hint="aggregate to a coarser period in the SQL, or raise --max-rows (ASKDB_MAX_ROWS)",
        )
    return result.frame


def _read_csv(path: Path | None) -> pd.DataFrame:
    import pandas as pd

    from askdb.errors import ForecastError

    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ForecastError(
            f"cannot read {path} as CSV: {exc}", hint="give a UTF-8 CSV with a header row"
        ) from None


def render(result: Forecast) -> str:
    """The terminal text: the forecast table, why this method, the band's coverage, the metrics."""
    from askdb.forecast.result import number_text

    coverage = result.interval["coverage"]
    measured = (
        f"measured coverage {coverage:.0%} on the backtest"
        if coverage is not None
        else "coverage not measured"
    )
    bt = result.backtest
    lines = [
        result.table_markdown(),
        "",
        f"chosen: {result.chosen}: {result.reason}",
        f"interval: {result.interval['level']:.0%} split conformal per step; {measured}",
        f"backtest: {bt['origins']} origins from {bt['first_origin']} to {bt['last_origin']}, "
        f"{bt['horizon']} steps each, models trained up to {bt['cutoff']}",
    ]
    filled = result.filled
    if filled["count"]:
        shown = ", ".join(filled["times"][:5]) + (" ..." if filled["count"] > 5 else "")
        lines.append(f"filled: {filled['count']} missing periods by {filled['method']}: {shown}")
    if result.series["aggregated"]:
        lines.append(f"aggregated: {result.series['aggregated']} rows merged into periods they shared")
    lines += ["", result.metrics_markdown(), "", f"fit + backtest: {number_text(result.fit_seconds)} s"]
    return "\n".join(lines)
