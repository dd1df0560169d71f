"""Deterministic demo data for the ads database.

Same seed and scale, same rows, on every machine: only ``random.Random`` (whose integer and float
streams are stable across platforms and Python versions) and fixed arithmetic are used. Each table
after ``ads_account`` draws from its own stream, seeded from the seed and the table's name.

At scale 1.0 the tables hold about 190,000 crawled note snapshots (``ads_summary``, 2025-01-01 to
2025-03-31), 2,000 accounts, 800 campaigns, 3,000 materials, 530,232 hourly delivery rows and
50,000 orders. Delivery and orders cover the first half of 2025 (181 days, 2025-01-01 to 2025-06-30),
so that a forecaster has something to find: their totals follow a daily curve, a weekday effect, a
rising trend, the promotion days 3.8, 5.20 and 6.18 (with warm-up days and 618's pre-sale), the
Spring Festival and May Day holidays, and noise. The totals are drawn top-down (the day's and the
hour's volume first, then split over the materials in delivery that day), so the shape holds at
every scale; only the first ``hourly_materials`` materials have hourly rows, over the days
their campaign runs.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

DEFAULT_SEED = 20250301

NOTES_START = datetime(2024, 12, 1)
CRAWL_START = datetime(2025, 1, 1)
CRAWL_END = datetime(2025, 3, 31, 23, 0)
# Delivery (ads_material_hourly) and orders (ads_order): every day of the first half of 2025.
DATA_START = date(2025, 1, 1)
DATA_END = date(2025, 6, 30)
DATA_DAYS = (DATA_END - DATA_START).days + 1
# Always-on campaigns (品牌常驻投放) run all year, so every day has delivery and orders at any scale.
ALWAYS_ON_END = date(2025, 12, 31)

# Promotion days, as askdb.forecast.calendar knows them: (delivery, orders) multipliers.
PROMOTIONS = {date(2025, 3, 8): (1.8, 3.5), date(2025, 5, 20): (1.6, 3.0), date(2025, 6, 18): (2.4, 5.0)}
PRESALE_618 = (date(2025, 6, 1), date(2025, 6, 17))  # 618's pre-sale weeks: a little more of both
SPRING_FESTIVAL = (date(2025, 1, 28), date(2025, 2, 4))  # 除夕 to 初六: couriers stop, orders drop
MAY_DAY = (date(2025, 5, 1), date(2025, 5, 5))
# Monday .. Sunday: people scroll and buy more at the weekend.
DELIVERY_WEEKDAY = (0.93, 0.95, 0.96, 0.98, 1.03, 1.12, 1.10)
ORDER_WEEKDAY = (0.88, 0.91, 0.94, 0.97, 1.04, 1.2, 1.25)
DELIVERY_GROWTH = 0.5  # the last day's volume is 1.5 times the first day's, before the other effects
ORDER_GROWTH = 0.8
IMPRESSIONS_PER_MATERIAL_HOUR = 400
# Day-to-day noise is persistent (a good day is followed by a good day): log-AR(1), this sd and memory.
DELIVERY_NOISE = 0.05
ORDER_NOISE = 0.07
NOISE_MEMORY = 0.6

PLATFORMS = (("小红书", "xhs", 0.55), ("抖音", "dy", 0.25), ("快手", "ks", 0.1), ("B站", "bili", 0.1))

CATEGORIES = {
    "美妆": {
        "products": ("口红", "面霜", "精华液", "粉底液", "防晒霜", "眼影盘", "卸妆油", "面膜"),
        "labels": ("美妆", "护肤", "彩妆", "口红试色", "平价好物"),
        "brands": ("完美日记", "花西子", "兰蔻", "雅诗兰黛", "珀莱雅", "薇诺娜"),
        "price": (59, 899),
    },
    "穿搭": {
        "products": ("连衣裙", "风衣", "牛仔裤", "小白鞋", "针织衫", "羽绒服", "西装外套"),
        "labels": ("穿搭", "ootd", "通勤穿搭", "显瘦穿搭"),
        "brands": ("优衣库", "ZARA", "太平鸟", "波司登", "李宁"),
        "price": (99, 1299),
    },
    "美食": {
        "products": ("咖啡机", "空气炸锅", "螺蛳粉", "火锅底料", "坚果礼盒", "气泡水"),
        "labels": ("美食", "探店", "家常菜", "减脂餐"),
        "brands": ("瑞幸", "德龙", "三只松鼠", "海底捞", "元气森林"),
        "price": (19, 2999),
    },
    "母婴": {
        "products": ("纸尿裤", "奶粉", "婴儿车", "儿童绘本", "安抚奶嘴"),
        "labels": ("母婴", "育儿", "宝宝辅食", "好物推荐"),
        "brands": ("飞鹤", "帮宝适", "好孩子", "贝亲"),
        "price": (39, 1999),
    },
    "数码": {
        "products": ("手机", "蓝牙耳机", "平板电脑", "相机", "智能手表", "机械键盘"),
        "labels": ("数码", "开箱", "测评", "科技"),
        "brands": ("小米", "华为", "大疆", "OPPO", "vivo"),
        "price": (199, 6999),
    },
    "家居": {
        "products": ("扫地机器人", "床品四件套", "香薰", "收纳盒", "落地灯"),
        "labels": ("家居", "租房改造", "收纳", "好物分享"),
        "brands": ("科沃斯", "无印良品", "宜家", "网易严选"),
        "price": (29, 3999),
    },
    "旅行": {
        "products": ("行李箱", "民宿", "机票攻略", "露营帐篷", "旅行收纳包"),
        "labels": ("旅行", "旅游攻略", "周末去哪儿", "露营"),
        "brands": ("携程", "新秀丽", "飞猪", "牧高笛"),
        "price": (49, 2599),
    },
    "健身": {
        "products": ("瑜伽垫", "蛋白粉", "跑鞋", "筋膜枪", "运动内衣"),
        "labels": ("健身", "减脂", "跑步", "瑜伽"),
        "brands": ("Keep", "安踏", "迪卡侬", "lululemon"),
        "price": (49, 1599),
    },
}

CITIES = (
    "上海",
    "北京",
    "杭州",
    "广州",
    "深圳",
    "成都",
    "重庆",
    "武汉",
    "南京",
    "西安",
    "长沙",
    "苏州",
    "厦门",
    "天津",
)
NICK_HEADS = (
    "小鹿",
    "阿杰",
    "橙子",
    "momo",
    "大鱼",
    "Lily",
    "七七",
    "糖糖",
    "阿紫",
    "小满",
    "老王",
    "Coco",
    "豆豆",
    "一一",
)
NICK_TAILS = ("爱{cat}", "的{cat}日记", "{cat}研究所", "聊{cat}", "{cat}笔记", "玩{cat}", "的{cat}分享")
OPENERS = ("姐妹们!", "终于等到了,", "真心推荐", "按头安利", "踩雷预警:", "回购无数次的", "实测一个月,", "")
VERDICTS = ("真的太好用了", "性价比超高", "颜值绝了", "一般般吧", "有点踩雷", "闭眼入", "值得冲")
DETAILS = ("链接在评论区", "附上使用感受", "对比了五款", "学生党也能冲", "打工人必备", "细节看图")
TITLE_PARTS = ("种草", "测评", "开箱", "教程", "合集", "清单")
CAMPAIGN_SUFFIX = ("新品推广", "达人合作", "品牌曝光", "直播带货")
PROMOTION_SUFFIX = {
    date(2025, 3, 8): "38节活动",
    date(2025, 5, 20): "520告白季",
    date(2025, 6, 18): "618大促",
}


@dataclass(frozen=True)
class DemoSizes:
    notes: int
    snapshots: int
    accounts: int
    campaigns: int
    materials: int
    orders: int
    channel_users: int
    hourly_materials: int

    @classmethod
    def at_scale(cls, scale: float) -> DemoSizes:
        def n(full: int, least: int) -> int:
            return max(least, round(full * scale))

        return cls(
            notes=n(4000, 10),
            snapshots=n(190_000, 200),
            accounts=n(2000, 20),
            campaigns=n(800, 8),
            materials=n(3000, 30),
            orders=n(50_000, 200),
            channel_users=n(400, 5),
            hourly_materials=n(800, 30),
        )


@dataclass(frozen=True)
class TableRows:
    """Rows for one table, in the table's column order."""

    table: str
    columns: tuple[str, ...]
    rows: list[tuple]


def generate(scale: float = 1.0, seed: int = DEFAULT_SEED) -> Iterator[TableRows]:
    """Yield every table's rows, parents before children (so foreign keys hold at each step)."""
    if not (0 < scale <= 10):
        raise ValueError("scale must be in (0, 10]")
    sizes = DemoSizes.at_scale(scale)
    accounts = _accounts(random.Random(seed), sizes)
    yield accounts
    campaigns = _campaigns(_stream(seed, "ads_campaign"), sizes, accounts.rows)
    yield campaigns
    materials = _materials(_stream(seed, "ads_material"), sizes, campaigns.rows)
    yield materials
    yield _hourly(_stream(seed, "ads_material_hourly"), sizes, campaigns.rows, materials.rows)
    yield _orders(_stream(seed, "ads_order"), sizes, campaigns.rows, materials.rows)
    yield _summary(_stream(seed, "ads_summary"), sizes, accounts.rows)


def _stream(seed: int, table: str) -> random.Random:
    """A table's own random stream, so that changing how one table is drawn leaves the others' rows alone.

    A str seed is hashed with SHA-512 (``random.seed`` version 2): the same stream everywhere.
    """
    return random.Random(f"{seed}:{table}")


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _pick_platform(rng: random.Random) -> tuple[str, str]:
    x, acc = rng.random(), 0.0
    for name, prefix, weight in PLATFORMS:
        acc += weight
        if x < acc:
            return name, prefix
    return PLATFORMS[-1][0], PLATFORMS[-1][1]


def _accounts(rng: random.Random, sizes: DemoSizes) -> TableRows:
    rows = []
    categories = tuple(CATEGORIES)
    for i in range(sizes.accounts):
        platform, prefix = _pick_platform(rng)
        category = rng.choice(categories)
        nickname = rng.choice(NICK_HEADS) + rng.choice(NICK_TAILS).format(cat=category)
        fans = int(math.exp(rng.gauss(9.5, 1.6)))
        joined = date(2018, 1, 1) + timedelta(days=rng.randrange(0, 2550))
        city = rng.choice(CITIES) if rng.random() > 0.03 else None
        verified = 1 if fans > 50_000 or rng.random() < 0.1 else 0
        rows.append(
            (f"{prefix}_{100001 + i}", nickname, platform, category, fans, city, verified, joined.isoformat())
        )
    columns = ("account", "nickname", "platform", "category", "fans", "city", "is_verified", "created_at")
    return TableRows("ads_account", columns, rows)


def _campaigns(rng: random.Random, sizes: DemoSizes, accounts: list[tuple]) -> TableRows:
    rows = []
    always_on = _always_on(sizes)
    # The last start leaves a week of delivery inside the data.
    stride = (DATA_DAYS - 7) / (sizes.campaigns - always_on)
    for i in range(sizes.campaigns):
        account, _, platform, category = accounts[rng.randrange(len(accounts))][:4]
        brand = rng.choice(CATEGORIES[category]["brands"])
        if i < always_on:
            start, end = DATA_START, ALWAYS_ON_END
            name, status = f"{brand}常驻投放", "投放中"
        else:
            # Ids grow with the start date, as a platform hands them out; one start per stride.
            start = DATA_START + timedelta(days=int((i - always_on + rng.random()) * stride))
            end = start + timedelta(days=rng.randrange(7, 46))
            if end < DATA_END:
                status = "已结束"
            else:
                status = "已暂停" if rng.random() < 0.15 else "投放中"
            name = f"{brand}{rng.choice(_suffixes(start, end))}"
        budget = round(rng.uniform(5_000, 500_000), 2)
        rows.append(
            (1001 + i, name, brand, account, platform, budget, start.isoformat(), end.isoformat(), status)
        )
    columns = (
        "campaign_id",
        "campaign_name",
        "brand",
        "account",
        "platform",
        "budget",
        "start_date",
        "end_date",
        "status",
    )
    return TableRows("ads_campaign", columns, rows)


def _always_on(sizes: DemoSizes) -> int:
    return max(1, sizes.campaigns // 100)


def _suffixes(start: date, end: date) -> tuple[str, ...]:
    season = "新春种草计划" if start.month <= 2 else "春季种草计划" if start.month <= 5 else "夏日种草计划"
    promos = tuple(s for day, s in PROMOTION_SUFFIX.items() if start <= day <= end)
    return (*CAMPAIGN_SUFFIX, season, *promos, *promos)


def _materials(rng: random.Random, sizes: DemoSizes, campaigns: list[tuple]) -> TableRows:
    brand_category = {b: cat for cat, spec in CATEGORIES.items() for b in spec["brands"]}
    users = [200_000 + rng.randrange(0, 800_000) for _ in range(sizes.channel_users)]
    rows = []
    always_on = _always_on(sizes)
    for i in range(sizes.materials):
        # One material per always-on campaign, among the first (those with hourly rows): every day has
        # delivery and something to sell, and the year-long campaigns do not crowd the hourly table.
        if i < always_on:
            campaign = campaigns[i]
        else:
            campaign = campaigns[always_on + rng.randrange(len(campaigns) - always_on)]
        campaign_id, brand, start = campaign[0], campaign[2], date.fromisoformat(campaign[6])
        product = rng.choice(CATEGORIES[brand_category[brand]]["products"])
        title = f"{brand}{product}{rng.choice(TITLE_PARTS)}"
        created = datetime.combine(start, datetime.min.time()) - timedelta(
            minutes=rng.randrange(0, 7 * 24 * 60)
        )
        media = "视频" if rng.random() < 0.45 else "图文"
        rows.append((5001 + i, campaign_id, rng.choice(users), title, media, _fmt(created)))
    columns = ("material_id", "campaign_id", "user_id", "title", "media_type", "created_at")
    return TableRows("ads_material", columns, rows)


# Share of a day's impressions by hour: quiet at night, peaks at lunch and in the evening.
_DIURNAL = (
    0.3,
    0.2,
    0.15,
    0.1,
    0.1,
    0.15,
    0.3,
    0.6,
    0.9,
    1.0,
    1.0,
    1.1,
    1.4,
    1.2,
    1.0,
    1.0,
    1.0,
    1.1,
    1.3,
    1.6,
    1.8,
    1.9,
    1.5,
    0.8,
)
# Orders by hour of the day: a lunch bump and a late-evening peak (after work, before sleep).
_ORDER_HOURS = (
    0.8,
    0.5,
    0.3,
    0.2,
    0.15,
    0.15,
    0.25,
    0.45,
    0.7,
    0.9,
    1.0,
    1.1,
    1.3,
    1.2,
    1.0,
    0.95,
    0.95,
    1.0,
    1.1,
    1.4,
    1.8,
    2.0,
    1.9,
    1.3,
)
# A promotion opens at midnight (0点开抢): its first hours sell several times an ordinary night's.
_PROMO_ORDER_HOURS = (4.0, 2.0, 0.8, *_ORDER_HOURS[3:])


def _data_days() -> list[date]:
    return [DATA_START + timedelta(days=k) for k in range(DATA_DAYS)]


def _calendar_effect(day: date) -> tuple[float, float]:
    """(delivery, orders) multipliers of a day's promotions and holidays."""
    if day in PROMOTIONS:
        return PROMOTIONS[day]
    if day + timedelta(days=1) in PROMOTIONS:
        return 1.2, 1.3  # the warm-up day before
    if PRESALE_618[0] <= day <= PRESALE_618[1]:
        return 1.1, 1.15
    if SPRING_FESTIVAL[0] <= day <= SPRING_FESTIVAL[1]:
        return 0.85, 0.55
    if MAY_DAY[0] <= day <= MAY_DAY[1]:
        return 1.08, 0.9
    return 1.0, 1.0


def _day_factors(day: date) -> tuple[float, float]:
    """(delivery, orders) volume of a day relative to the first day's, before noise."""
    progress = (day - DATA_START).days / (DATA_DAYS - 1)
    delivery, orders = _calendar_effect(day)
    weekday = day.weekday()
    return (
        (1 + DELIVERY_GROWTH * progress) * DELIVERY_WEEKDAY[weekday] * delivery,
        (1 + ORDER_GROWTH * progress) * ORDER_WEEKDAY[weekday] * orders,
    )


def _campaign_days(campaigns: list[tuple]) -> dict[int, tuple[date, date]]:
    """Each campaign's first and last day inside the data."""
    return {
        c[0]: (max(date.fromisoformat(c[6]), DATA_START), min(date.fromisoformat(c[7]), DATA_END))
        for c in campaigns
    }


def _delivering(days: list[date], items: list, spans: list[tuple[date, date]]) -> list[list]:
    """For each day, the items whose span (first and last day) holds it."""
    return [[item for item, (first, last) in zip(items, spans) if first <= day <= last] for day in days]


def _ar_noise(rng: random.Random, n: int, sd: float) -> list[float]:
    """``n`` multiplicative noise factors whose logs are a stationary AR(1) with standard deviation ``sd``."""
    innovation = sd * math.sqrt(1 - NOISE_MEMORY**2)
    level, out = rng.gauss(0, sd), []
    for _ in range(n):
        out.append(math.exp(level))
        level = NOISE_MEMORY * level + rng.gauss(0, innovation)
    return out


def _hourly(
    rng: random.Random, sizes: DemoSizes, campaigns: list[tuple], materials: list[tuple]
) -> TableRows:
    days = _data_days()
    profiles = [
        (
            material_id,
            campaign_id,
            user_id,
            math.exp(rng.gauss(0, 0.8)),  # the material's share of the day's volume, before normalising
            rng.uniform(0.005, 0.08),  # ctr
            rng.uniform(0.02, 0.3),  # cvr
            rng.uniform(8, 60),  # cpm
        )
        for material_id, campaign_id, user_id, *_ in materials[: sizes.hourly_materials]
    ]
    span_of = _campaign_days(campaigns)
    active = _delivering(days, profiles, [span_of[p[1]] for p in profiles])
    level = IMPRESSIONS_PER_MATERIAL_HOUR * sum(map(len, active)) / len(days)
    rows = []
    next_id = 1
    for day, todays, noise in zip(days, active, _ar_noise(rng, len(days), DELIVERY_NOISE)):
        if not todays:
            continue
        volume = level * _day_factors(day)[0] * noise / sum(p[3] for p in todays)
        bid = 1.25 if day in PROMOTIONS else 1.0  # promotion days bid up the CPM
        for hour in range(24):
            slot = f"{day:%Y-%m-%d} {hour:02d}:00 - {hour + 1:02d}:00"
            per_weight = volume * _DIURNAL[hour] * math.exp(rng.gauss(0, 0.04))
            for material_id, _, user_id, weight, ctr, cvr, cpm in todays:
                impressions = int(per_weight * weight * rng.uniform(0.6, 1.4))
                clicks = int(impressions * ctr * rng.uniform(0.7, 1.3))
                activations = int(clicks * cvr * rng.uniform(0.5, 1.5))
                cost = round(impressions * cpm * bid / 1000, 2)
                rows.append((next_id, user_id, material_id, slot, impressions, clicks, activations, cost))
                next_id += 1
    columns = ("id", "user_id", "material_id", "time_slot", "impressions", "clicks", "activations", "cost")
    return TableRows("ads_material_hourly", columns, rows)


def _apportion(weights: list[float], total: int) -> list[int]:
    """Whole counts in proportion to ``weights`` that add up to ``total`` (largest remainders first)."""
    exact = [w * total / sum(weights) for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _orders(
    rng: random.Random, sizes: DemoSizes, campaigns: list[tuple], materials: list[tuple]
) -> TableRows:
    by_id = {c[0]: c for c in campaigns}
    brand_category = {b: cat for cat, spec in CATEGORIES.items() for b in spec["brands"]}
    days = _data_days()
    # A few materials sell far more than the rest, as in real campaigns.
    weighted = [(m, math.exp(rng.gauss(0, 1.2))) for m in materials]
    span_of = _campaign_days(campaigns)
    selling = _delivering(days, weighted, [span_of[m[1]] for m in materials])
    noise = _ar_noise(rng, len(days), ORDER_NOISE)
    expected = [_day_factors(day)[1] * e for day, e in zip(days, noise)]
    rows = []
    for day, count, todays in zip(days, _apportion(expected, sizes.orders), selling):
        if not count:
            continue
        cumulative = list(itertools.accumulate(w for _, w in todays))
        chosen = rng.choices([m for m, _ in todays], cum_weights=cumulative, k=count)
        hours = rng.choices(
            range(24), weights=_PROMO_ORDER_HOURS if day in PROMOTIONS else _ORDER_HOURS, k=count
        )
        midnight = datetime.combine(day, time())
        moments = sorted(midnight + timedelta(hours=h, seconds=rng.randrange(3600)) for h in hours)
        for material, moment in zip(chosen, moments):
            campaign = by_id[material[1]]
            low, high = CATEGORIES[brand_category[campaign[2]]]["price"]
            quantity = rng.choice((1, 1, 1, 1, 2, 2, 3))
            amount = round(rng.uniform(low, high) * quantity, 2)
            refunded = 1 if rng.random() < 0.06 else 0
            order_id = 900_000_001 + len(rows)
            rows.append((order_id, campaign[0], material[0], _fmt(moment), amount, quantity, refunded))
    columns = ("order_id", "campaign_id", "material_id", "order_time", "amount", "quantity", "is_refunded")
    return TableRows("ads_order", columns, rows)


def _count_text(rng: random.Random, value: int) -> str | None:
    """How a crawler sees a count: plain digits, '1.2万' from ten thousand up, now and then empty."""
    roll = rng.random()
    if roll < 0.003:
        return None
    if roll < 0.006:
        return ""
    if value >= 10_000:
        return f"{value / 10_000:.1f}万"
    return str(value)


def _summary(rng: random.Random, sizes: DemoSizes, accounts: list[tuple]) -> TableRows:
    notes = [_note(rng, accounts) for _ in range(sizes.notes)]
    # Spread the snapshot budget over notes in proportion to how long each was crawled.
    firsts = [max(n["published"], CRAWL_START) for n in notes]
    lifetimes = [(CRAWL_END - first).total_seconds() for first in firsts]
    per_second = sizes.snapshots / sum(lifetimes)
    visits = []
    for index, (first, life) in enumerate(zip(firsts, lifetimes)):
        crawls = max(1, math.ceil(life * per_second))
        step = life / crawls
        visits.extend(
            (first + timedelta(seconds=int(step * (k + rng.uniform(0.1, 0.9)))), index) for k in range(crawls)
        )
    # Rounding up gave a few visits too many: drop a random few so the size is exact.
    visits = [visits[i] for i in sorted(rng.sample(range(len(visits)), sizes.snapshots))]
    visits.sort()  # ids grow with crawl time, as in a crawler's table
    rows = [_snapshot(rng, notes[index], moment, row_id) for row_id, (moment, index) in enumerate(visits, 1)]
    return TableRows(
        "ads_summary",
        (
            "id",
            "update_time",
            "desc",
            "account",
            "label",
            "star",
            "comment",
            "collection",
            "share",
            "create_time",
        ),
        rows,
    )


def _note(rng: random.Random, accounts: list[tuple]) -> dict:
    account = accounts[rng.randrange(len(accounts))]
    category = account[3]
    spec = CATEGORIES[category]
    product = rng.choice(spec["products"])
    brand = rng.choice(spec["brands"])
    text = (
        f"{rng.choice(OPENERS)}{brand}{product}{rng.choice(VERDICTS)}!{rng.choice(DETAILS)}"
        f" #{rng.choice(spec['labels'])} #{product}"
    )
    published = NOTES_START + timedelta(minutes=rng.randrange(0, 114 * 24 * 60))
    # Final engagement: heavy-tailed so that about one count in seven passes ten thousand.
    star = int(math.exp(rng.gauss(8.5, 1.8)))
    return {
        "account": account[0],
        "desc": text,
        "label": rng.choice(spec["labels"]),
        "published": published,
        "final": (
            star,
            int(star * rng.uniform(0.02, 0.15)),
            int(star * rng.uniform(0.2, 0.9)),
            int(star * rng.uniform(0.01, 0.2)),
        ),
        "tau_days": rng.uniform(2, 15),
    }


def _snapshot(rng: random.Random, note: dict, moment: datetime, row_id: int) -> tuple:
    age_days = (moment - note["published"]).total_seconds() / 86400
    grown = 1 - math.exp(-age_days / note["tau_days"])
    counts = [_count_text(rng, int(final * grown)) for final in note["final"]]
    updated = moment + timedelta(seconds=rng.randrange(0, 600))
    return (row_id, _fmt(updated), note["desc"], note["account"], note["label"], *counts, _fmt(moment))


def expected_rows(scale: float = 1.0, seed: int = DEFAULT_SEED) -> int:
    """How many rows ``generate`` yields in all at this scale and seed (for progress bars)."""
    sizes = DemoSizes.at_scale(scale)
    accounts = _accounts(random.Random(seed), sizes).rows  # the same draws as generate (fast)
    campaigns = _campaigns(_stream(seed, "ads_campaign"), sizes, accounts).rows
    materials = _materials(_stream(seed, "ads_material"), sizes, campaigns).rows[: sizes.hourly_materials]
    span_of = _campaign_days(campaigns)
    hourly = 24 * sum((span_of[m[1]][1] - span_of[m[1]][0]).days + 1 for m in materials)
    return sizes.accounts + sizes.campaigns + sizes.materials + hourly + sizes.orders + sizes.snapshots
