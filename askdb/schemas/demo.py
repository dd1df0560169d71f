"""Deterministic demo data for the ads database.

Same seed and scale, same rows, on every machine: only ``random.Random`` (whose integer and float
streams are stable across platforms and Python versions) and fixed arithmetic are used.

At scale 1.0 the tables hold about 190,000 crawled note snapshots (``ads_summary``), 2,000 accounts,
800 campaigns, 3,000 materials, 216,000 hourly rows and 50,000 orders.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

DEFAULT_SEED = 20250301

NOTES_START = datetime(2024, 12, 1)
CRAWL_START = datetime(2025, 1, 1)
CRAWL_END = datetime(2025, 3, 31, 23, 0)
HOURLY_START = datetime(2025, 3, 1)
HOURLY_DAYS = 3

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
CAMPAIGN_SUFFIX = ("春季种草计划", "新品推广", "达人合作", "品牌曝光", "直播带货", "38节活动")


@dataclass(frozen=True)
class DemoSizes:
    notes: int
    snapshots: int
    accounts: int
    campaigns: int
    materials: int
    orders: int
    channel_users: int

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
    rng = random.Random(seed)
    accounts = _accounts(rng, sizes)
    yield accounts
    campaigns = _campaigns(rng, sizes, accounts.rows)
    yield campaigns
    materials = _materials(rng, sizes, campaigns.rows)
    yield materials
    yield _hourly(rng, materials.rows)
    yield _orders(rng, sizes, campaigns.rows, materials.rows)
    yield _summary(rng, sizes, accounts.rows)


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
    for i in range(sizes.campaigns):
        account, _, platform, category = accounts[rng.randrange(len(accounts))][:4]
        brand = rng.choice(CATEGORIES[category]["brands"])
        start = date(2025, 1, 1) + timedelta(days=rng.randrange(0, 85))
        end = start + timedelta(days=rng.randrange(7, 46))
        if end < date(2025, 3, 31):
            status = "已结束"
        else:
            status = "已暂停" if rng.random() < 0.15 else "投放中"
        budget = round(rng.uniform(5_000, 500_000), 2)
        name = f"{brand}{rng.choice(CAMPAIGN_SUFFIX)}"
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


def _materials(rng: random.Random, sizes: DemoSizes, campaigns: list[tuple]) -> TableRows:
    brand_category = {b: cat for cat, spec in CATEGORIES.items() for b in spec["brands"]}
    users = [200_000 + rng.randrange(0, 800_000) for _ in range(sizes.channel_users)]
    rows = []
    for i in range(sizes.materials):
        campaign = campaigns[rng.randrange(len(campaigns))]
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


def _hourly(rng: random.Random, materials: list[tuple]) -> TableRows:
    rows = []
    next_id = 1
    for material_id, _, user_id, *_ in materials:
        base = math.exp(rng.gauss(5.5, 1.0))
        ctr = rng.uniform(0.005, 0.08)
        cvr = rng.uniform(0.02, 0.3)
        cpm = rng.uniform(8, 60)
        for hour in range(HOURLY_DAYS * 24):
            slot_start = HOURLY_START + timedelta(hours=hour)
            impressions = int(base * _DIURNAL[hour % 24] * rng.uniform(0.6, 1.4))
            clicks = int(impressions * ctr * rng.uniform(0.7, 1.3))
            activations = int(clicks * cvr * rng.uniform(0.5, 1.5))
            cost = round(impressions * cpm / 1000, 2)
            end_hour = slot_start.hour + 1
            slot = f"{slot_start:%Y-%m-%d %H:00} - {end_hour:02d}:00"
            rows.append((next_id, user_id, material_id, slot, impressions, clicks, activations, cost))
            next_id += 1
    columns = ("id", "user_id", "material_id", "time_slot", "impressions", "clicks", "activations", "cost")
    return TableRows("ads_material_hourly", columns, rows)


def _orders(
    rng: random.Random, sizes: DemoSizes, campaigns: list[tuple], materials: list[tuple]
) -> TableRows:
    by_id = {c[0]: c for c in campaigns}
    brand_category = {b: cat for cat, spec in CATEGORIES.items() for b in spec["brands"]}
    # A few materials sell far more than the rest, as in real campaigns.
    weights = [math.exp(rng.gauss(0, 1.2)) for _ in materials]
    chosen = rng.choices(materials, weights=weights, k=sizes.orders)
    rows = []
    for i, material in enumerate(chosen):
        campaign = by_id[material[1]]
        start, end = date.fromisoformat(campaign[6]), date.fromisoformat(campaign[7])
        span_minutes = ((end - start).days + 1) * 24 * 60
        moment = datetime.combine(start, datetime.min.time()) + timedelta(minutes=rng.randrange(span_minutes))
        low, high = CATEGORIES[brand_category[campaign[2]]]["price"]
        quantity = rng.choice((1, 1, 1, 1, 2, 2, 3))
        amount = round(rng.uniform(low, high) * quantity, 2)
        refunded = 1 if rng.random() < 0.06 else 0
        rows.append((900_000_001 + i, campaign[0], material[0], _fmt(moment), amount, quantity, refunded))
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


def expected_rows(scale: float = 1.0) -> int:
    """How many rows ``generate`` yields in all at this scale (for progress bars)."""
    sizes = DemoSizes.at_scale(scale)
    hourly = sizes.materials * HOURLY_DAYS * 24
    return sizes.accounts + sizes.campaigns + sizes.materials + hourly + sizes.orders + sizes.snapshots
