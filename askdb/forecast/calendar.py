"""Chinese holidays and e-commerce promotion days, for the calendar features of a target time.

Fixed-date days are written once; the Spring Festival moves with the lunar calendar, so its dates
are listed (初一, from the published calendars) for the years an ads history plausibly covers.
The table is small on purpose: a tree can only use a day it has seen in the history.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# (month, day) -> promotion code; 0 is an ordinary day. The codes are labels, not an order.
PROMO_DAYS: dict[tuple[int, int], int] = {(3, 8): 1, (5, 20): 2, (6, 18): 3, (11, 11): 4, (12, 12): 5}
# Public holidays on fixed dates: 元旦, 劳动节 (5.1-5.5), 国庆 (10.1-10.7).
FIXED_HOLIDAYS: frozenset[tuple[int, int]] = frozenset(
    [(1, 1)] + [(5, d) for d in range(1, 6)] + [(10, d) for d in range(1, 8)]
)
SPRING_FESTIVAL = pd.DatetimeIndex(
    [
        "2010-02-14", "2011-02-03", "2012-01-23", "2013-02-10", "2014-01-31", "2015-02-19",
        "2016-02-08", "2017-01-28", "2018-02-16", "2019-02-05", "2020-01-25", "2021-02-12",
        "2022-02-01", "2023-01-22", "2024-02-10", "2025-01-29", "2026-02-17", "2027-02-06",
        "2028-01-26", "2029-02-13", "2030-02-03",
    ]
)  # fmt: skip


def promo_code(times: pd.DatetimeIndex) -> np.ndarray:
    """0 for an ordinary day, else the promotion's code (3.8, 5.20, 6.18, 11.11, 12.12)."""
    keys = zip(times.month, times.day)
    return np.fromiter((PROMO_DAYS.get(k, 0) for k in keys), dtype=float, count=len(times))


def is_holiday(times: pd.DatetimeIndex) -> np.ndarray:
    """1 on a public holiday: the fixed-date ones and the Spring Festival week (除夕 to 初六)."""
    fixed = np.fromiter(((m, d) in FIXED_HOLIDAYS for m, d in zip(times.month, times.day)), bool, len(times))
    days = times.normalize()
    spring = np.zeros(len(times), dtype=bool)
    for start in SPRING_FESTIVAL:
        spring |= (days >= start - pd.Timedelta(days=1)) & (days <= start + pd.Timedelta(days=6))
    return (fixed | spring).astype(float)
