"""The demo-data generator: deterministic, realistic enough, and consistent across tables."""

from __future__ import annotations

import itertools
import re
import statistics
from collections import defaultdict
from datetime import date, timedelta

import pytest

from askdb.schemas.demo import PROMOTIONS, DemoSizes, expected_rows, generate


@pytest.fixture(scope="module")
def tables():
    return {t.table: t for t in generate(scale=0.05)}


@pytest.fixture(scope="module")
def full():
    """The full-size demo's delivery and orders (the generator stops before the crawled notes)."""
    out = {}
    for t in generate(scale=1.0):
        out[t.table] = t
        if t.table == "ads_order":
            return out
    raise AssertionError("generate yields ads_order")


def _count(text: str | None) -> float | None:
    if not text:
        return None
    return float(text[:-1]) * 10_000 if text.endswith("万") else float(text)


def test_same_seed_same_rows_other_seed_other_rows(tables):
    again = {t.table: t.rows for t in generate(scale=0.05)}
    assert {name: t.rows for name, t in tables.items()} == again
    other = {t.table: t.rows for t in generate(scale=0.05, seed=7)}
    assert other["ads_summary"] != again["ads_summary"]
    assert other["ads_material_hourly"] != again["ads_material_hourly"]
    assert other["ads_order"] != again["ads_order"]


def test_sizes_follow_the_scale(tables):
    sizes = DemoSizes.at_scale(0.05)
    assert len(tables["ads_account"].rows) == sizes.accounts
    assert len(tables["ads_summary"].rows) == sizes.snapshots
    assert len(tables["ads_order"].rows) == sizes.orders
    assert sum(len(t.rows) for t in tables.values()) == expected_rows(0.05)
    full = DemoSizes.at_scale(1.0)
    assert (full.snapshots, full.accounts, full.campaigns, full.materials, full.orders) == (
        190_000,
        2000,
        800,
        3000,
        50_000,
    )


def test_counts_read_like_a_crawler_saw_them(tables):
    counts = [v for row in tables["ads_summary"].rows for v in row[5:9]]
    wan = sum(1 for v in counts if v and v.endswith("万")) / len(counts)
    blank = sum(1 for v in counts if v in ("", None)) / len(counts)
    assert 0.10 < wan < 0.20
    assert 0 < blank < 0.02
    assert all(v is None or v == "" or re.fullmatch(r"\d+|\d+\.\d万", v) for v in counts)


def test_counts_grow_between_crawls_of_the_same_note(tables):
    history = defaultdict(list)
    for row in tables["ads_summary"].rows:  # rows are in crawl order
        history[(row[3], row[2])].append(_count(row[5]))
    repeated = [h for h in history.values() if len(h) > 3]
    assert len(repeated) > 20
    for stars in repeated:
        seen = [s for s in stars if s is not None]
        # '1.2万' rounds, so allow the rounding of the display, never a real drop
        assert all(b >= a - 500 for a, b in itertools.pairwise(seen))


def test_crawls_span_the_first_quarter_of_2025_in_id_order(tables):
    rows = tables["ads_summary"].rows
    times = [r[9] for r in rows]
    assert times == sorted(times)
    assert times[0] >= "2025-01-01" and times[-1] < "2025-04-01"
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))


def test_foreign_keys_hold_in_generated_rows(tables):
    accounts = {r[0] for r in tables["ads_account"].rows}
    campaigns = {r[0]: r for r in tables["ads_campaign"].rows}
    materials = {r[0]: r for r in tables["ads_material"].rows}
    assert {r[3] for r in tables["ads_summary"].rows} <= accounts
    assert {r[3] for r in campaigns.values()} <= accounts
    assert {r[1] for r in materials.values()} <= set(campaigns)
    assert {r[2] for r in tables["ads_material_hourly"].rows} <= set(materials)
    for order in tables["ads_order"].rows:
        assert materials[order[2]][1] == order[1]  # the material belongs to the order's campaign
        campaign = campaigns[order[1]]
        assert campaign[6] <= order[3][:10] <= campaign[7]


def test_hourly_slots_use_the_seed_format(tables):
    rows = tables["ads_material_hourly"].rows
    slots = sorted({r[3] for r in rows})
    assert slots[10] == "2025-01-01 10:00 - 11:00" and slots[-1] == "2025-06-30 23:00 - 24:00"
    shapes = [re.fullmatch(r"2025-0[1-6]-\d\d (\d\d):00 - (\d\d):00", s) for s in slots]
    assert all(m and int(m[2]) == int(m[1]) + 1 for m in shapes)
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    assert [r[3] for r in rows] == sorted(r[3] for r in rows)  # ids grow with time, as in a log


def test_materials_deliver_only_while_their_campaign_runs(tables):
    campaigns = {r[0]: r for r in tables["ads_campaign"].rows}
    material_campaign = {r[0]: r[1] for r in tables["ads_material"].rows}
    for row in tables["ads_material_hourly"].rows:
        campaign = campaigns[material_campaign[row[2]]]
        assert campaign[6] <= row[3][:10] <= campaign[7]


def _hourly_cost(full) -> list[float]:
    by_slot = defaultdict(float)
    for row in full["ads_material_hourly"].rows:
        by_slot[row[3]] += row[7]
    return [by_slot[slot] for slot in sorted(by_slot)]


def _daily_orders(full) -> dict[date, int]:
    days = defaultdict(int)
    for row in full["ads_order"].rows:
        days[date.fromisoformat(row[3][:10])] += 1
    return dict(sorted(days.items()))


def _autocorrelation(values: list[float], lag: int) -> float:
    return statistics.correlation(values[:-lag], values[lag:])


def _neighbours(series: dict[date, float], day: date) -> float:
    """The median of the week either side of a day, promotion days left out."""
    around = [day + timedelta(days=k) for k in range(-7, 8) if k]
    return statistics.median(series[d] for d in around if d in series and d not in PROMOTIONS)


def test_full_size_covers_181_days_hour_by_hour_in_sane_sizes(full):
    hourly, orders = full["ads_material_hourly"].rows, full["ads_order"].rows
    assert 400_000 < len(hourly) < 700_000 and len(orders) == 50_000
    cost = _hourly_cost(full)
    assert len(cost) == 181 * 24  # every hour of 2025-01-01 .. 2025-06-30 has delivery
    days = _daily_orders(full)
    assert len(days) == 181 >= 120 and min(days) == date(2025, 1, 1) and max(days) == date(2025, 6, 30)
    assert expected_rows(1.0) - len(hourly) - len(orders) == 2000 + 800 + 3000 + 190_000


def test_hourly_cost_has_a_daily_cycle(full):
    cost = _hourly_cost(full)
    by_hour = [statistics.mean(cost[h::24]) for h in range(24)]
    assert max(by_hour) > 5 * min(by_hour)
    assert by_hour.index(max(by_hour)) in (19, 20, 21, 22) and by_hour.index(min(by_hour)) in (2, 3, 4, 5)
    assert _autocorrelation(cost, 24) > 0.7
    assert _autocorrelation(cost, 24) > _autocorrelation(cost, 12) + 0.5


def test_daily_orders_have_a_weekday_effect_a_trend_and_promotion_spikes(full):
    days = _daily_orders(full)
    dates, counts = list(days), list(days.values())
    # each day against its centred week, so that neither the trend nor a promotion week hides the weekday
    relative = defaultdict(list)
    for i in range(3, len(counts) - 3):
        relative[dates[i].weekday()].append(counts[i] / statistics.mean(counts[i - 3 : i + 4]))
    weekday = [statistics.median(relative[d]) for d in range(7)]
    assert min(weekday[5], weekday[6]) > 1.1 > 0.95 > weekday[0]
    assert _autocorrelation(counts, 7) > _autocorrelation(counts, 3)
    ordinary = [
        c for d, c in days.items() if d not in PROMOTIONS and not date(2025, 1, 27) <= d <= date(2025, 2, 5)
    ]
    first, last = statistics.mean(ordinary[:28]), statistics.mean(ordinary[-28:])
    assert last > 1.4 * first
    for promo in PROMOTIONS:
        assert days[promo] > 2.5 * _neighbours(days, promo)


def test_promotion_days_are_spikes_in_delivery_cost(full):
    cost = _hourly_cost(full)
    daily = {
        date(2025, 1, 1) + timedelta(days=k): sum(cost[24 * k : 24 * k + 24]) for k in range(len(cost) // 24)
    }
    for promo in PROMOTIONS:
        assert daily[promo] > 1.5 * _neighbours(daily, promo)
    ordinary = [v for d, v in daily.items() if d not in PROMOTIONS]
    assert statistics.mean(ordinary[-28:]) > 1.3 * statistics.mean(ordinary[:28])


def test_text_is_chinese_and_mentions_products(tables):
    descs = [r[2] for r in tables["ads_summary"].rows]
    assert any("口红" in d for d in descs) and any("咖啡机" in d for d in descs)
    platforms = {r[2] for r in tables["ads_account"].rows}
    assert platforms == {"小红书", "抖音", "快手", "B站"}


def test_scale_out_of_range_is_refused():
    with pytest.raises(ValueError):
        next(generate(scale=0))
