"""The demo-data generator: deterministic, realistic enough, and consistent across tables."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict

import pytest

from askdb.schemas.demo import DemoSizes, expected_rows, generate


@pytest.fixture(scope="module")
def tables():
    return {t.table: t for t in generate(scale=0.05)}


def _count(text: str | None) -> float | None:
    if not text:
        return None
    return float(text[:-1]) * 10_000 if text.endswith("万") else float(text)


def test_same_seed_same_rows_other_seed_other_rows(tables):
    again = {t.table: t.rows for t in generate(scale=0.05)}
    assert {name: t.rows for name, t in tables.items()} == again
    other = {t.table: t.rows for t in generate(scale=0.05, seed=7)}
    assert other["ads_summary"] != again["ads_summary"]


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
    slots = [r[3] for r in tables["ads_material_hourly"].rows[:48]]
    assert slots[10] == "2025-03-01 10:00 - 11:00"
    assert all(re.fullmatch(r"2025-03-0\d \d\d:00 - \d\d:00", s) for s in slots)


def test_text_is_chinese_and_mentions_products(tables):
    descs = [r[2] for r in tables["ads_summary"].rows]
    assert any("口红" in d for d in descs) and any("咖啡机" in d for d in descs)
    platforms = {r[2] for r in tables["ads_account"].rows}
    assert platforms == {"小红书", "抖音", "快手", "B站"}


def test_scale_out_of_range_is_refused():
    with pytest.raises(ValueError):
        next(generate(scale=0))
