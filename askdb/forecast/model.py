"""LightGBM, direct strategy: one model per step ahead, settings chosen along the horizon.

For step ``s`` a row is an origin ``t`` (features known at ``t``) and its target ``y[t+s]``. The
settings of step ``s`` (a target transform and a tree size, ``GRID``; on a horizon longer than
``SELECT_STEPS``, those of the nearest of that many steps spread over it) are chosen by scikit-learn's
``TimeSeriesSplit`` over the rows up to the backtest cutoff with ``gap = s - 1``: the last training
row of a fold then has its target at the first validation origin, never past it, so no training
target lies inside the validation window. The chosen settings are fitted once on the rows up to
the cutoff (the backtest) and once more on every row (the forecast).

LightGBM's defaults (20 rows a leaf, 3 a bin) make no split at all below about 40 rows; the leaf
size here shrinks with the rows, and one thread per model keeps two shared cores from thrashing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from askdb.errors import ConfigError
from askdb.forecast.backtest import MethodRun, Plan
from askdb.forecast.features import Design, base, build_design, feature_names, matrix
from askdb.forecast.series import Series

MIN_ROWS = 24  # training rows of the last step at the cutoff below which LightGBM is not tried
MAX_ROWS = 2000  # the most recent rows each model trains on: bounds the time of a long hourly history
# Rows x steps per series: past 24 steps each model trains on fewer recent rows and chooses on two folds,
# so a half-hourly day ahead (48 steps) costs about what an hourly one does (measured: 20 s -> ~9 s).
ROW_STEPS = 48_000
_SPLITS = 3
SELECT_STEPS = 12  # steps of the horizon whose settings are chosen by cross-validation; the rest follow


@dataclass(frozen=True)
class Candidate:
    """One point of the grid: the target transform and the tree settings."""

    transform: str
    num_leaves: int
    n_estimators: int
    learning_rate: float

    def label(self) -> str:
        if self.n_estimators == 0:
            return f"{self.transform}/no trees"
        return f"{self.transform}/{self.num_leaves} leaves/{self.n_estimators} trees"


# Four-leaf trees for every transform, 15-leaf ones for the two that long sub-daily series pick, and the
# "profile" decomposition with no trees at all: where trees fitted on the history only add noise to what
# comes next, cross-validation can say so. One year of daily births (Births78, backtest over its last
# quarter, holidays the history never showed) goes from MASE 1.56 to 1.24 (Holt-Winters 1.25),
# elecdaily .74 -> .71; the series that trees help keep their trees.
# Small trees beat 15 leaves on every daily series of bench_forecast.py (demo orders MASE 1.66 -> 1.57,
# elecdaily .75 -> .74, seattle_weather .57 -> .56) and on the smooth hourly seattle_temps (.50 ->
# .46); the 15-leaf ones keep taylor at .23 and co2 at .26 (.28 and .29 with small trees alone).
# A 15-leaf tree over ~1,100 rows x 36 features costs ~0.2-0.45 ms here; a 4-leaf one less.
GRID: tuple[Candidate, ...] = (
    Candidate("last", 4, 80, 0.1),
    Candidate("season", 4, 80, 0.1),
    Candidate("level", 4, 80, 0.1),
    Candidate("drift", 4, 80, 0.1),
    Candidate("last", 15, 80, 0.1),
    Candidate("season", 15, 80, 0.1),
    Candidate("profile", 0, 0, 0.1),
)


def lgbm_params(rows: int, candidate: Candidate, n_jobs: int = 1) -> dict[str, Any]:
    """LGBMRegressor arguments that still split on ``rows`` rows, quietly and on ``n_jobs`` threads."""
    return {
        "objective": "regression",
        "num_leaves": candidate.num_leaves,
        "n_estimators": candidate.n_estimators,
        "learning_rate": candidate.learning_rate,
        "min_child_samples": max(3, min(20, rows // 40)),
        "min_data_in_bin": 1,
        "max_bin": 31,
        "colsample_bytree": 0.5,  # half the features per tree: half the histogram work, no loss measured
        "reg_lambda": 1.0,
        "subsample_for_bin": 20_000,
        "n_jobs": n_jobs,
        "verbose": -1,
        "force_row_wise": True,
        "deterministic": True,
        "random_state": 0,
    }


@dataclass(frozen=True)
class StepRows:
    """One step's training material: origins, their feature rows and targets, and which rows train the
    backtest's model (``train``: targets up to the cutoff) and the final one (``every``), most recent first kept."""

    rows: np.ndarray
    features: np.ndarray
    target: np.ndarray
    train: np.ndarray
    every: np.ndarray


class LightGBMDirect:
    """The forecaster: one LightGBM model per step, settings per step from ``GRID`` by TimeSeriesSplit.

    Args:
        grid: the candidates each step chooses from (the first when a step has too few rows to split).
        n_jobs: LightGBM threads per model.
        scale_estimators: multiplies every candidate's tree count (tests use a fraction for speed).
    """

    name = "lightgbm"

    def __init__(
        self, grid: tuple[Candidate, ...] = GRID, *, n_jobs: int = 1, scale_estimators: float = 1.0
    ) -> None:
        self.grid = grid
        self.n_jobs = n_jobs
        self.scale_estimators = scale_estimators

    def run(self, series: Series, plan: Plan) -> MethodRun:
        lgb = _lightgbm()
        design = build_design(series, plan.horizon)
        rows_at_cutoff = plan.cutoff - plan.horizon - design.first_origin + 1
        if rows_at_cutoff < MIN_ROWS:
            return MethodRun(
                self.name,
                skipped=f"too short for LightGBM: {max(rows_at_cutoff, 0)} training rows for step "
                f"{plan.horizon} before the backtest, needs {MIN_ROWS} (more history or a shorter horizon)",
            )
        backtest = np.empty((len(plan.origins), plan.horizon))
        forecast = np.empty(plan.horizon)
        importance = np.zeros(len(feature_names(design)))
        # Settings are chosen on at most SELECT_STEPS steps spread over the horizon; the steps between take
        # the nearest one's: a half-hourly day ahead chooses 12 times, not 48 (taylor: 12.9 s -> 5.9 s,
        # MASE .229 either way).
        selected = np.unique(
            np.linspace(1, plan.horizon, min(plan.horizon, SELECT_STEPS)).round().astype(int)
        )
        folds = _SPLITS if plan.horizon <= 24 else 2
        data = {int(step): self._rows(design, plan, int(step)) for step in selected}
        choice = {
            step: self._select(
                lgb, design, step, d.rows[d.train], d.features[d.train], d.target[d.train], folds
            )
            for step, d in data.items()
        }
        chosen: list[Candidate] = []
        for step in range(1, plan.horizon + 1):
            candidate = choice[int(selected[np.argmin(np.abs(selected - step))])]
            rows = data.pop(step, None) or self._rows(design, plan, step)
            backtest[:, step - 1], forecast[step - 1], gain = self._step(
                lgb, design, plan, step, candidate, rows
            )
            importance += gain
            chosen.append(candidate)
        info = {
            "steps": [c.label() for c in chosen],
            "importance": _shares(design, importance),
            "base_only": [c.transform for c in chosen if c.n_estimators == 0],  # steps with no trees
        }
        return MethodRun(self.name, backtest, forecast, info=info)

    def _rows(self, design: Design, plan: Plan, step: int) -> StepRows:
        """Step ``step``'s recent origins with their feature rows and targets."""
        rows = design.origins_for(step, len(design.y) - 1)
        cap = min(MAX_ROWS, ROW_STEPS // plan.horizon)
        rows = rows[rows > plan.cutoff - step - cap]  # the features of older rows are never used
        return StepRows(
            rows,
            matrix(design, step, rows),
            design.y[rows + step],
            train=_recent(rows + step <= plan.cutoff, cap),
            every=_recent(np.ones(len(rows), dtype=bool), cap),
        )

    def _step(
        self, lgb: Any, design: Design, plan: Plan, step: int, candidate: Candidate, data: StepRows
    ) -> tuple[np.ndarray, float, np.ndarray]:
        """Step ``step`` with ``candidate``: backtest from the cutoff, refit on everything, forecast."""
        rows, features, target, train, every = data.rows, data.features, data.target, data.train, data.every
        model = self._fit(lgb, design, step, rows[train], features[train], target[train], candidate)
        at = np.searchsorted(rows, plan.origins)
        backtest = model.predict(features[at]) + base(design, step, plan.origins, candidate.transform)
        final = self._fit(lgb, design, step, rows[every], features[every], target[every], candidate)
        origin = np.array([len(design.y) - 1])
        ahead = final.predict(matrix(design, step, origin)) + base(design, step, origin, candidate.transform)
        return backtest, float(ahead[0]), final.booster_.feature_importance(importance_type="gain")

    def _candidate_params(self, rows: int, candidate: Candidate) -> dict[str, Any]:
        params = lgbm_params(rows, candidate, self.n_jobs)
        params["n_estimators"] = max(5, round(candidate.n_estimators * self.scale_estimators))
        return params

    def _fit(
        self,
        lgb: Any,
        design: Design,
        step: int,
        origins: np.ndarray,
        features: np.ndarray,
        target: np.ndarray,
        candidate: Candidate,
    ) -> Any:
        if candidate.n_estimators == 0:
            return _BaseOnly(features.shape[1])
        model = lgb.LGBMRegressor(**self._candidate_params(len(origins), candidate))
        model.fit(features, target - base(design, step, origins, candidate.transform))
        return model

    def _select(
        self,
        lgb: Any,
        design: Design,
        step: int,
        origins: np.ndarray,
        features: np.ndarray,
        target: np.ndarray,
        folds: int = _SPLITS,
    ) -> Candidate:
        splits = step_splits(len(origins), step, folds)
        if len(self.grid) == 1 or not splits:
            return self.grid[0]
        errors = []
        for candidate in self.grid:
            total = 0.0
            for train, valid in splits:
                model = self._fit(
                    lgb, design, step, origins[train], features[train], target[train], candidate
                )
                guess = model.predict(features[valid]) + base(
                    design, step, origins[valid], candidate.transform
                )
                total += float(np.mean(np.abs(target[valid] - guess)))
            errors.append(total)
        return self.grid[int(np.argmin(errors))]


class _BaseOnly:
    """A candidate with no trees: its transform's base alone is the forecast."""

    def __init__(self, features: int) -> None:
        self.features = features

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return np.zeros(len(rows))

    @property
    def booster_(self) -> _BaseOnly:
        return self

    def feature_importance(self, importance_type: str = "gain") -> np.ndarray:
        return np.zeros(self.features)


def step_splits(rows: int, step: int, n_splits: int = _SPLITS) -> list[tuple[np.ndarray, np.ndarray]]:
    """``TimeSeriesSplit`` folds over ``rows`` consecutive origins for step ``step`` (gap ``step - 1``).

    Fewer folds when the rows are few; none when even two folds would train on under ``MIN_ROWS // 2``.
    """
    from sklearn.model_selection import TimeSeriesSplit

    gap = step - 1
    for k in range(n_splits, 1, -1):
        test_size = (rows - gap) // (k + 1)
        if test_size >= 2 and rows - gap - k * test_size >= MIN_ROWS // 2:
            return list(TimeSeriesSplit(n_splits=k, test_size=test_size, gap=gap).split(np.arange(rows)))
    return []


def _recent(mask: np.ndarray, cap: int) -> np.ndarray:
    """``mask`` with only its last ``cap`` true entries kept."""
    keep = mask.copy()
    keep[np.flatnonzero(mask)[:-cap]] = False
    return keep


def _shares(design: Design, gain: np.ndarray) -> dict[str, float]:
    """The features' shares of the total gain over every step's final model, largest first (top 8)."""
    total = gain.sum()
    if total <= 0:
        return {}
    ranked = sorted(zip(feature_names(design), gain / total), key=lambda pair: -pair[1])
    return {name: round(float(share), 3) for name, share in ranked[:8]}


def _lightgbm() -> Any:
    try:
        import lightgbm
    except ImportError:
        raise ConfigError(
            "the forecaster needs lightgbm, which is not installed", hint="pip install 'askdb[forecast]'"
        ) from None
    return lightgbm
