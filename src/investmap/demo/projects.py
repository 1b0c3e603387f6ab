"""The demo project library: investment projects over the district in the database.

`write_projects(seed=…)` reads the district already written (towns, parks,
teams, enterprises, parcels, buildings) and adds a plausible library of
investment projects with their timelines, plus the demo users who own them
(one officer and one manager per town, a bureau account). Same seed, same
district and same `as_of` → the same rows; only `as_of` (default: today)
moves the dates, so the demo always looks current.

* Categories and stages are dealt by quota (largest remainders of the mix,
  shuffled), so even the 30 projects of the tiny district show every category
  and every stage; `land_obtained` goes only to categories whose path has it.
* Milestones are walked forward along `lifecycle.path(category)` with gaps
  typical of each step, then the whole path is placed so that the current
  stage has lasted its "dwell" up to `as_of`: dates never decrease and never
  pass `as_of`. A couple of projects imported from an OA system carry
  out-of-order milestones on purpose (registration before signing, works
  started before the land was obtained); some projects are left untouched for
  longer than their stage allows, some signed ones never registered and some
  with land never started, so every alert type shows.
* Related rows follow the services' conventions: a `StageChange` and a
  "stage" activity per milestone reached (one import row for imported
  projects), a "first" `SigningEvent` at `signed_on` (plus a few "increase"
  rows: the total is the first amount plus the increases), `CapitalArrival`s
  with "capital" activities from the construction start, user activities
  (visit, call, meeting, note) with Chinese texts, a few visits scheduled after
  `as_of`; `last_touched_on` is the latest activity on or before `as_of`.
* Projects are inserted with `simple_history.utils.bulk_create_with_history`
  (one "+" record each, reason "demo district"), the chosen parcels through the
  m2m table with their m2m history rows; the other tables have no history and
  use `bulk_create`. At district scale this is ~500 projects and ~10k rows, so
  the ORM path costs well under a second and the writer's raw path (ADR 0005)
  is not needed.

Every random draw comes from numpy PCG64 streams seeded from (seed, step[, i]):
one stream per project, one for the library-wide choices, so the rows do not
depend on set order, the machine or PYTHONHASHSEED.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from numpy.random import PCG64, Generator, SeedSequence
from simple_history.utils import bulk_create_with_history

from investmap.core.choices import OrgKind, Role
from investmap.core.models import OrgUnit, User
from investmap.projects import lifecycle
from investmap.projects.models import (
    MILESTONE_FIELDS,
    Activity,
    AlertDelivery,
    Approval,
    CapitalArrival,
    Document,
    Project,
    SigningEvent,
    StageChange,
    StandardCheck,
)
from investmap.projects.services import grade_for
from investmap.resources.models import Building, Enterprise, Parcel, Park, Team, Town

from . import codes, vocab
from .draws import Stream, Weighted, generator
from .industries import CHAINS, SELF_CONTAINED

CHANGE_REASON = "demo district"
STEP = 20  # numpy stream steps of this module (the district generator uses 1–11)
BATCH = 2000

# Share of each category and stage; dealt by quota (largest remainders), then shuffled.
CATEGORY_MIX = {"new_land": 0.34, "stock_space": 0.30, "expansion": 0.20, "hq_rd": 0.16}
STAGE_MIX = {
    "lead": 0.15,
    "negotiating": 0.17,
    "signed": 0.11,
    "registered": 0.09,
    "land_obtained": 0.07,
    "construction": 0.13,
    "completed": 0.06,
    "production": 0.10,
    "on_hold": 0.05,
    "dropped": 0.07,
}
# Chains of new investors by category (expansions take their enterprise's chain).
CHAIN_MIX = {
    "new_land": {"nev": 26, "ic": 16, "bio": 16, "equip": 22, "general": 8, "logistics": 12},
    "stock_space": {"nev": 14, "ic": 14, "bio": 16, "equip": 18, "services": 30, "general": 8},
    "hq_rd": {"services": 40, "ic": 20, "bio": 20, "nev": 10, "equip": 10},
}
FACTORY_CHAINS = ("nev", "ic", "bio", "equip", "general")
# Total investment (万元): log-normal median and sigma by category, clipped.
AMOUNT = {
    "new_land": (35000.0, 0.9, 3000.0, 1_500_000.0),
    "expansion": (15000.0, 0.9, 1000.0, 500_000.0),
    "stock_space": (3000.0, 0.9, 300.0, 100_000.0),
    "hq_rd": (8000.0, 1.0, 500.0, 500_000.0),
}
FIXED_SHARE = {
    "new_land": (0.65, 0.9),
    "expansion": (0.6, 0.9),
    "stock_space": (0.3, 0.7),
    "hq_rd": (0.3, 0.7),
}
MAJOR_WAN = 100000.0  # 10亿: the demo needs a few of these (grade bands are settings)
# Classes whose plants cost billions (vehicles, wafer fabs, cell factories): never in rented
# space, and at least 10亿 when on new land.
HEAVY = frozenset({"3612", "3973", "3841"})
MANUFACTURING = frozenset(c[0] for ch in CHAINS.values() for c in ch.classes if c[3])

# Days from the previous milestone on the path to this one: (low, mode, high).
GAP = {
    "negotiating": (7, 25, 90),
    "signed": (30, 90, 300),
    "registered": (7, 25, 80),
    "land_obtained": (30, 90, 240),
    "construction": (20, 60, 200),
    "completed": (180, 400, 720),
    "production": (20, 60, 180),
}
GAP_NO_LAND = {"construction": (15, 40, 120), "completed": (60, 120, 300)}
# Days spent so far in the current stage: (low, mode, high).
DWELL = {
    "lead": (0, 20, 120),
    "negotiating": (0, 40, 200),
    "signed": (0, 30, 80),
    "registered": (0, 50, 200),
    "land_obtained": (0, 40, 170),
    "construction": (0, 120, 500),
    "completed": (0, 40, 200),
    "production": (0, 200, 900),
}
HOLD_FROM = {"negotiating": 3, "signed": 3, "registered": 2, "land_obtained": 1, "construction": 2}
DROP_FROM = {"lead": 3, "negotiating": 4, "signed": 2, "registered": 1}
ACTIVITY_KINDS = Weighted({"visit": 0.35, "call": 0.30, "meeting": 0.20, "note": 0.15})

# Node of the industrial chain, and products with a capacity unit and range, by GB/T 4754 class.
# (node, ((product, unit, low, high), ...)); a product without unit has no capacity in names.
CLASS_INFO: dict[str, tuple[str, tuple[tuple[str, str, float, float], ...]]] = {
    # 新能源汽车
    "3612": ("整车制造", (("新能源汽车", "万辆", 5, 30), ("智能网联汽车", "万辆", 3, 20))),
    "3670": (
        "汽车零部件",
        (
            ("汽车热管理系统", "万套", 20, 200),
            ("新能源汽车精密结构件", "万件", 100, 1000),
            ("一体化压铸件", "万件", 20, 120),
            ("汽车电子控制单元", "万套", 50, 500),
        ),
    ),
    "3841": ("动力电池", (("动力电池", "GWh", 2, 30), ("储能电池", "GWh", 2, 20))),
    "3849": ("氢能与储能", (("氢燃料电池系统", "套", 2000, 20000), ("储能系统", "GWh", 1, 10))),
    "3813": ("电驱动系统", (("新能源汽车驱动电机", "万台", 10, 100),)),
    "3824": ("功率电子", (("车规级功率模块", "万只", 50, 600),)),
    "3962": (
        "智能座舱与智能驾驶",
        (("智能座舱域控制器", "万套", 20, 200), ("激光雷达", "万台", 5, 50)),
    ),
    "3660": ("专用车与车身", (("新能源专用车", "辆", 2000, 20000),)),
    # 集成电路
    "6520": ("芯片设计", (("集成电路设计", "", 0, 0), ("车规级芯片研发", "", 0, 0))),
    "3973": ("晶圆制造", (("12英寸晶圆", "万片", 6, 60), ("8英寸特色工艺晶圆", "万片", 12, 60))),
    "3972": ("功率器件", (("功率半导体器件", "亿只", 1, 20), ("碳化硅功率器件", "万片", 5, 30))),
    "3562": ("半导体设备", (("半导体设备", "台", 100, 800), ("刻蚀设备", "台", 50, 300))),
    "3985": ("电子材料", (("电子特气", "吨", 500, 5000), ("光刻胶", "吨", 200, 2000))),
    "3976": ("光电子器件", (("光通信器件", "万只", 100, 1000),)),
    "3983": ("传感器", (("MEMS传感器", "亿颗", 1, 10),)),
    "3982": ("电子电路", (("高端印制电路板", "万平方米", 10, 120),)),
    # 生物医药
    "2710": ("原料药", (("原料药", "吨", 50, 500),)),
    "2720": ("化学制剂", (("化学制剂", "亿片", 1, 20),)),
    "2761": ("生物药", (("抗体药物原液", "升", 20000, 120000), ("生物药", "", 0, 0))),
    "2762": ("疫苗与生物制品", (("疫苗", "万剂", 500, 5000),)),
    "2770": ("医用材料", (("医用敷料", "亿片", 1, 10),)),
    "3581": ("医疗设备", (("医学影像设备", "台", 200, 2000),)),
    "3584": ("医疗器械", (("高值医用耗材", "万件", 10, 500), ("手术机器人", "台", 100, 1000))),
    "3544": ("制药装备", (("制药装备", "台套", 100, 1000),)),
    "7340": ("新药研发", (("创新药研发", "", 0, 0),)),
    # 智能装备
    "3491": ("工业机器人", (("工业机器人", "台", 1000, 20000),)),
    "3492": ("特种机器人", (("特种机器人", "台", 200, 2000),)),
    "3493": ("增材制造", (("金属3D打印设备", "台", 100, 1000),)),
    "3421": ("数控机床", (("五轴数控机床", "台", 200, 2000),)),
    "3425": ("机床功能部件", (("精密机床功能部件", "万件", 5, 50),)),
    "4011": ("工业控制", (("工业自动化控制系统", "万套", 1, 20),)),
    "3914": ("工业控制计算机", (("工业控制计算机", "万台", 2, 30),)),
    "3441": ("泵与真空设备", (("真空泵", "万台", 1, 10),)),
    "3453": ("传动部件", (("精密减速器", "万台", 5, 50),)),
    "3444": ("液压元件", (("液压元件", "万件", 10, 100),)),
    "3467": ("包装机械", (("智能包装设备", "台套", 200, 2000),)),
    "4014": ("分析仪器", (("分析仪器", "台", 500, 5000),)),
    "4028": ("电子测量仪器", (("电子测量仪器", "台", 500, 5000),)),
    # 传统制造业
    "2929": ("塑料制品", (("精密注塑件", "万件", 500, 5000),)),
    "3311": ("金属结构", (("钢结构件", "万吨", 2, 20),)),
    "3484": ("机械零部件", (("机械零部件", "万件", 50, 500),)),
    "3360": ("表面处理", (("金属表面处理", "万平方米", 20, 200),)),
    "3391": ("铸造", (("精密铸件", "万吨", 1, 10),)),
    "3525": ("模具", (("精密模具", "套", 500, 5000),)),
    "3831": ("电线电缆", (("特种电线电缆", "千米", 5000, 50000),)),
    "2641": ("涂料", (("环保涂料", "万吨", 1, 10),)),
    "3482": ("紧固件", (("高强度紧固件", "亿件", 1, 10),)),
    "3399": ("金属制品", (("金属制品", "万件", 50, 500),)),
    "3352": ("建筑五金", (("水暖器材", "万套", 20, 200),)),
    "2922": ("塑料型材", (("塑料管材", "万吨", 1, 10),)),
    "3823": ("配电设备", (("智能配电设备", "万台", 1, 20),)),
    "3872": ("照明器具", (("LED照明灯具", "万套", 100, 1000),)),
    "3434": ("输送设备", (("智能输送设备", "台套", 200, 2000),)),
    # 生产性服务业
    "6513": ("软件与信息服务", (("工业软件", "", 0, 0),)),
    "6531": ("信息系统集成", (("数字化解决方案", "", 0, 0),)),
    "6532": ("物联网服务", (("物联网平台", "", 0, 0),)),
    "6450": ("数据服务", (("大数据中心", "", 0, 0),)),
    "7320": ("工程技术研究", (("工程技术研究", "", 0, 0),)),
    "7452": ("检验检测", (("检验检测", "", 0, 0),)),
    "7484": ("工程设计", (("工程设计", "", 0, 0),)),
    "7491": ("工业设计", (("工业设计", "", 0, 0),)),
    "7530": ("科技服务", (("科技成果转化", "", 0, 0),)),
    "7212": ("投资与资产管理", (("产业投资", "", 0, 0),)),
    "7224": ("供应链管理", (("供应链管理", "", 0, 0),)),
    "7243": ("管理咨询", (("管理咨询", "", 0, 0),)),
    "7263": ("人力资源服务", (("人力资源服务", "", 0, 0),)),
    "5179": ("贸易", (("机电设备贸易", "", 0, 0),)),
    "5175": ("贸易", (("电气设备贸易", "", 0, 0),)),
    "5154": ("贸易", (("医疗器械贸易", "", 0, 0),)),
    # 现代物流
    "5920": ("仓储", (("智慧物流园", "", 0, 0), ("区域分拨中心", "", 0, 0))),
    "5930": ("冷链物流", (("冷链物流中心", "", 0, 0),)),
    "5910": ("多式联运", (("物流枢纽", "", 0, 0),)),
}

OUTSIDE_CITIES = [
    "苏州",
    "无锡",
    "常州",
    "南京",
    "杭州",
    "宁波",
    "嘉兴",
    "合肥",
    "深圳",
    "广州",
    "北京",
    "天津",
    "成都",
    "武汉",
    "西安",
    "青岛",
    "厦门",
    "东莞",
]
SHORT_SUFFIXES = ("科技", "技术", "实业", "药业", "电气", "机械", "物流", "集团", "股份")
SOURCES = [
    "以商引商",
    "专业展会",
    "中介机构推荐",
    "企业主动对接",
    "驻外招商",
    "产业链招商",
    "市投促中心推送",
]
TAGS = [
    "专精特新",
    "链主企业",
    "补链强链",
    "科创板储备",
    "数字化转型",
    "绿色低碳",
    "高新技术企业",
    "以商引商",
]
HOLD_REASONS = [
    "企业资金安排调整，项目暂缓推进",
    "用地规划调整中，待控规批复后继续推进",
    "投资方内部决策流程延长，暂缓洽谈",
    "环评及能评指标待落实",
    "企业市场订单下滑，投资计划推迟",
]
DROP_REASONS = [
    "企业战略调整，项目改投外省",
    "用地指标无法落实",
    "投资方融资未到位",
    "周边地区给出更优惠条件，项目流失",
    "能耗指标不满足要求",
    "企业经营出现困难，取消投资计划",
]
# Timeline texts by kind and phase of the project on that day. {s}: investor's short name.
TEXTS = {
    ("visit", "pre"): [
        "走访{s}，了解项目投资计划和用地需求",
        "陪同{s}考察{t}可用地块及周边配套",
        "赴{s}总部拜访，介绍区域产业政策",
        "陪同企业考察园区标准厂房",
    ],
    ("visit", "mid"): [
        "走访{s}，协调项目公司注册及银行开户",
        "陪同企业踏勘地块，了解红线和规划条件",
        "上门服务，协助准备项目备案材料",
    ],
    ("visit", "build"): [
        "实地查看项目施工进度，主体结构施工中",
        "走访项目现场，了解施工用电用水需求",
        "陪同区领导调研项目建设情况",
    ],
    ("visit", "prod"): [
        "走访企业，了解投产后产能爬坡及用工需求",
        "走访{s}，了解二期投资意向",
    ],
    ("call", "pre"): [
        "电话联系{c}，确认下次洽谈时间",
        "电话沟通项目落地条件，企业关注人才公寓配套",
        "与企业投资负责人电话沟通，企业正在比选长三角其他选址",
    ],
    ("call", "mid"): [
        "电话沟通注册事宜，企业已准备材料",
        "与企业财务负责人沟通资金到位计划",
        "电话提醒企业提交环评报告",
    ],
    ("call", "build"): [
        "电话了解项目施工进展及困难",
        "电话沟通设备进场时间",
    ],
    ("call", "prod"): ["电话了解企业投产后经营情况", "电话回访企业对服务的意见"],
    ("meeting", "pre"): [
        "组织项目专题洽谈会，双方就投资强度和产出达成初步一致",
        "区领导接待{s}一行，介绍{t}投资环境",
        "召开项目评审会，评估项目产出和税收贡献",
    ],
    ("meeting", "mid"): [
        "召开项目推进会，协调规划、环评等审批事项",
        "召开项目服务专班会议，明确审批时间节点",
    ],
    ("meeting", "build"): [
        "召开项目服务专班会议，协调施工许可办理",
        "召开现场推进会，协调配套道路和管线接入",
    ],
    ("meeting", "prod"): ["召开企业座谈会，听取投产后的诉求"],
    ("note", "pre"): [
        "企业提交项目可行性研究报告",
        "项目已列入区重点项目储备库",
        "企业反馈厂房层高需8米以上",
        "收到企业投资意向书",
    ],
    ("note", "mid"): [
        "项目公司营业执照已领取",
        "企业提交用地申请材料",
        "项目备案材料已报区发改委",
    ],
    ("note", "build"): ["项目已取得施工许可证", "项目纳入区重大工程月报"],
    ("note", "prod"): ["企业已纳入规上工业统计", "项目达产复核材料已提交"],
}
TEXTS_HOLD = {
    "visit": ["走访企业了解暂缓原因"],
    "call": ["电话跟进企业最新投资安排"],
    "meeting": ["召开协调会研究项目重启条件"],
    "note": ["企业表示将于明年重新评估投资计划"],
}
SCHEDULED = ["计划：陪同{s}考察地块", "计划：召开项目推进会", "计划：赴{s}总部拜访"]
STAGE_ZH = {
    "lead": "线索",
    "negotiating": "洽谈",
    "signed": "签约",
    "registered": "注册",
    "land_obtained": "拿地",
    "construction": "在建",
    "completed": "竣工",
    "production": "投产",
    "on_hold": "暂缓",
    "dropped": "终止",
}
PHASE = {
    "lead": "pre",
    "negotiating": "pre",
    "signed": "mid",
    "registered": "mid",
    "land_obtained": "mid",
    "construction": "build",
    "completed": "build",
    "production": "prod",
}
LAND_USES = {"logistics": ("W1", "M1"), "ic": ("M0", "M1"), "bio": ("M0", "M1")}
# What each building type suits, for the space of stock-space and HQ projects.
BUILDING_FOR = {"factory": ("factory", "mixed"), "office": ("office", "mixed")}


class ProjectsNotEmpty(Exception):
    """The project library already holds projects (clear it first: `clear_projects`)."""

    def __init__(self, n: int):
        self.n = n
        super().__init__(
            f"The project library is not empty ({n} projects). Run `investmap demo --reset` to "
            "replace the demo district and its projects."
        )


def is_demo_library() -> bool:
    """True when the towns in the database were written by the demo writer (not imported)."""
    if Town.history.filter(history_change_reason=CHANGE_REASON).exists():
        return True
    # Written with --no-history: the district team the generator names.
    return Team.objects.filter(
        code="TEAM-D", name__endswith="投资促进办公室重点项目招商组"
    ).exists()


def default_count(enterprises: int) -> int:
    """About one project per 40 enterprises, at least 30."""
    return max(30, round(enterprises / 40))


def clear_projects() -> int:
    """Delete every project, its related rows and its history; the number of projects deleted.

    Plain deletes, like the demo writer's reset: no "deleted" history records.
    Rows of other models that point at projects are deleted (or their reference
    cleared when it is SET_NULL)."""
    n = Project.objects.count()
    own = {Activity, Document, StageChange, SigningEvent, CapitalArrival, Approval}
    own |= {StandardCheck, AlertDelivery}
    for model in own:
        model.objects.all().delete()
    for rel in Project._meta.get_fields(include_hidden=True):
        if not rel.auto_created or rel.concrete or not rel.is_relation or rel.many_to_many:
            continue
        other = rel.related_model
        if other in own:
            continue
        if rel.on_delete is models.DO_NOTHING:  # history tables of other models
            continue
        name = rel.field.name
        qs = other._base_manager.filter(**{f"{name}__isnull": False})
        if rel.on_delete is models.SET_NULL:
            qs.update(**{name: None})
        else:
            qs.delete()
    Project.parcels.through.objects.all().delete()
    _m2m_history_model().objects.all().delete()
    Project.history.all().delete()
    quote = connection.ops.quote_name
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {quote(Project._meta.db_table)}")
    return n


def _m2m_history_model():
    return apps.get_model("projects", "HistoricalProject_parcels")


def write_projects(
    *,
    seed: int,
    count: int | None = None,
    as_of: dt.date | None = None,
    log=None,
    history: bool = True,
) -> dict:
    """Add the demo project library over the district in the database; rows written per kind.

    Refuses (`ProjectsNotEmpty`) when projects exist: call `clear_projects()`
    first. `count` defaults to `default_count(enterprises)`; `as_of` (default
    today) is the last day any milestone or past activity may fall on.
    """
    log = log or (lambda msg: None)
    as_of = as_of or timezone.localdate()
    t0 = time.perf_counter()
    with transaction.atomic():
        existing = Project.objects.count()
        if existing:
            raise ProjectsNotEmpty(existing)
        world = _World.load()
        if not world.towns:
            raise ValueError("no towns in the database: write the demo district first")
        rs_users = Stream(generator(seed, STEP), chunk=1024)
        officers, n_users = _demo_users(world, rs_users)
        if count is None:
            count = default_count(world.enterprise_count)
        if count < 0:
            raise ValueError("count must not be negative")
        plans = _Planner(seed, world, as_of, count).run()
        written = _store(plans, officers, as_of, history)
    written["users"] = n_users
    written["out_of_order"] = sum(1 for p in plans if p.out_of_order)
    log(
        f"  {'projects':<13}{written['projects']:>8} rows {time.perf_counter() - t0:7.2f} s "
        f"({written['activities']} activities, {written['signings']} signings, "
        f"{written['capital_arrivals']} capital arrivals)"
    )
    return written


# --- the district as read from the database ----------------------------------------------------


@dataclass
class _Ent:
    id: int
    credit_code: str
    name: str
    industry_code: str
    chain: str
    scale: str
    town_id: int
    park_id: int | None
    parcel_id: int | None
    contact_name: str
    contact_phone: str
    contact_email: str


@dataclass
class _World:
    towns: list[dict]
    parks: list[dict]
    teams_of_unit: dict[int, list[int]]
    district_unit_id: int | None
    district_team_id: int | None
    enterprises: list[_Ent]
    parcels: list[dict]
    buildings: list[dict]
    town_weight: dict[int, float]
    enterprise_count: int

    @classmethod
    def load(cls) -> _World:
        towns = list(Town.objects.order_by("code").values("id", "code", "name", "org_unit_id"))
        parks = list(
            Park.objects.order_by("code").values("id", "code", "name", "town_id", "org_unit_id")
        )
        for p in parks:
            p["theme"] = _park_theme(p["name"])
        teams_of_unit: dict[int, list[int]] = {}
        for t in Team.objects.order_by("code").values("id", "org_unit__parent_id"):
            if t["org_unit__parent_id"] is not None:
                teams_of_unit.setdefault(t["org_unit__parent_id"], []).append(t["id"])
        district_unit_id = None
        if towns:
            district_unit_id = (
                OrgUnit.objects.filter(pk=towns[0]["org_unit_id"])
                .values_list("parent_id", flat=True)
                .first()
            )
        if district_unit_id is None:
            district_unit_id = (
                OrgUnit.objects.filter(kind=OrgKind.DISTRICT, parent__isnull=True)
                .order_by("code")
                .values_list("pk", flat=True)
                .first()
            )
        district_team = teams_of_unit.get(district_unit_id, [None])[0]
        chain_of = _chain_of_class()
        operators = ("园区发展", "经济发展", "置业", "房地产", "商业管理", "实业发展", "企业发展")
        operators += ("资产经营",)
        enterprises = []
        rows = Enterprise.objects.order_by("credit_code").values_list(
            "id",
            "credit_code",
            "name",
            "industry_code",
            "scale",
            "town_id",
            "park_id",
            "parcel_id",
            "contact_name",
            "contact_phone",
            "contact_email",
        )
        weight: dict[int, float] = {t["id"]: 1.0 for t in towns}
        total = 0
        for r in rows.iterator(chunk_size=5000):
            total += 1
            weight[r[5]] = weight.get(r[5], 1.0) + 1.0
            chain = chain_of.get(r[3])
            if chain is None or any(w in r[2] for w in operators):
                continue
            enterprises.append(_Ent(r[0], r[1], r[2], r[3], chain, r[4], *r[5:]))
        parcels = list(
            Parcel.objects.filter(
                enterprise__isnull=True,
                land_use__in=("M0", "M1", "M2", "W1"),
                status__in=("available", "planned"),
                area_mu__gte=8,
            )
            .order_by("code")
            .values("id", "code", "town_id", "park_id", "land_use", "area_mu")
        )
        buildings = list(
            Building.objects.filter(vacant_floor_m2__gt=500)
            .order_by("code")
            .values("id", "code", "town_id", "park_id", "building_type", "vacant_floor_m2")
        )
        return cls(
            towns=towns,
            parks=parks,
            teams_of_unit=teams_of_unit,
            district_unit_id=district_unit_id,
            district_team_id=district_team,
            enterprises=enterprises,
            parcels=parcels,
            buildings=buildings,
            town_weight={t["id"]: weight.get(t["id"], 1.0) for t in towns},
            enterprise_count=total,
        )


def _chain_of_class() -> dict[str, str]:
    out: dict[str, str] = {}
    for key, chain in CHAINS.items():
        for code, *_rest in chain.classes:
            out.setdefault(code, key)
    return out


def _park_theme(name: str) -> str | None:
    for chain, words in vocab.PARK_THEMES.items():
        if any(name.endswith(w) for w in words):
            return chain
    return None


# --- users ---------------------------------------------------------------------------------------


def _demo_users(world: _World, rs: Stream) -> tuple[dict[int, User], int]:
    """One officer and one manager per town, and a bureau account; town id → officer."""
    officers: dict[int, User] = {}
    wanted = []
    n = 0

    def upsert(username, role, unit_id, manager=None):
        nonlocal n
        name, _local = codes.person(rs)
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, first_name=name, email=f"{username}@demo.invalid")
            user.set_unusable_password()
        user.role, user.org_unit_id, user.manager = role, unit_id, manager
        user.is_active = True
        user.save()
        wanted.append(username)
        n += 1
        return user

    for town in world.towns:
        low = town["code"].lower()
        manager = upsert(f"manager-{low}", Role.TOWN_OFFICER, town["org_unit_id"])
        officers[town["id"]] = upsert(
            f"officer-{low}", Role.TOWN_OFFICER, town["org_unit_id"], manager
        )
    upsert("demo-bureau", Role.BUREAU_STAFF, world.district_unit_id)
    # Demo users of towns an earlier demo had and this one has not (another scale).
    stale = [
        u
        for u in User.objects.filter(
            models.Q(username__startswith="officer-") | models.Q(username__startswith="manager-")
        ).exclude(username__in=wanted)
        if not u.has_usable_password() and u.email == f"{u.username}@demo.invalid"
    ]
    units = {u.org_unit_id for u in stale if u.org_unit_id}
    for u in stale:
        u.delete()
    OrgUnit.objects.filter(
        pk__in=units,
        kind=OrgKind.TOWN,
        users__isnull=True,
        children__isnull=True,
        town__isnull=True,
    ).delete()
    return officers, n


# --- planning (pure Python) ------------------------------------------------------------------------


@dataclass
class _Plan:
    i: int
    category: str = ""
    stage: str = ""
    chain: str = ""
    industry_code: str = ""
    node: str = ""
    product: tuple = ()
    investor: _Ent | None = None
    investor_name: str = ""
    short: str = ""
    foreign: bool = False
    contact: tuple[str, str, str] = ("", "", "")
    town_id: int = 0
    park_id: int | None = None
    team_id: int | None = None
    total: float = 0.0
    strategic: bool = False
    fields: dict = field(default_factory=dict)
    milestones: dict = field(default_factory=dict)
    lead_on: dt.date | None = None
    held_from: str = ""
    event_on: dt.date | None = None  # hold or drop day
    drop_reason: str = ""
    hold_reason: str = ""
    last_touch: dt.date | None = None
    imported: bool = False
    import_on: dt.date | None = None
    out_of_order: bool = False
    increases: list = field(default_factory=list)  # (date, amount)
    arrivals: list = field(default_factory=list)  # (date, amount)
    activities: list = field(default_factory=list)  # (kind, date, text)
    stage_changes: list = field(default_factory=list)  # (from, to, date, reason)
    parcel_id: int | None = None
    building_id: int | None = None
    tags: list = field(default_factory=list)
    code: str = ""
    rs: Stream | None = None


def _quota(mix: dict[str, float], n: int) -> list[str]:
    """n keys in the proportions of `mix` (largest remainders), in key order."""
    total = sum(mix.values())
    exact = {k: n * w / total for k, w in mix.items()}
    out = {k: int(v) for k, v in exact.items()}
    rest = n - sum(out.values())
    for k in sorted(mix, key=lambda k: (-(exact[k] - out[k]), list(mix).index(k)))[:rest]:
        out[k] += 1
    return [k for k in mix for _ in range(out[k])]


def _shuffle(rs: Stream, items: list) -> list:
    items = list(items)
    for j in range(len(items) - 1, 0, -1):
        k = rs.integers(j + 1)
        items[j], items[k] = items[k], items[j]
    return items


def _wan(v: float) -> float:
    """A figure in 万元 rounded as people write it (never 0)."""
    if v >= 10000:
        return float(round(v, -2))
    if v >= 1000:
        return float(round(v, -1))
    return max(float(round(v)), 1.0)


def _days(rs: Stream, spec: tuple[int, int, int]) -> int:
    lo, mode, hi = spec
    return int(rs.triangular(lo, mode, hi + 0.999))


class _Planner:
    def __init__(self, seed: int, world: _World, as_of: dt.date, count: int):
        self.seed, self.w, self.as_of, self.count = seed, world, as_of, count
        self.rs = Stream(generator(seed, STEP + 1), chunk=4096)
        self.used_investors: set[int] = set()
        self.used_parcels: set[int] = set()
        self.used_names: set[str] = set()
        self.parks_by_town: dict[int, list[dict]] = {}
        for p in world.parks:
            self.parks_by_town.setdefault(p["town_id"], []).append(p)
        self.park_by_id = {p["id"]: p for p in world.parks}
        self.town_by_id = {t["id"]: t for t in world.towns}
        self.ents_by_chain: dict[str, list[_Ent]] = {}
        for e in world.enterprises:
            self.ents_by_chain.setdefault(e.chain, []).append(e)
        self.expanders = [
            e
            for e in world.enterprises
            if e.chain in FACTORY_CHAINS and e.industry_code in MANUFACTURING
        ]
        self.parcels_by_town: dict[int, list[dict]] = {}
        for x in world.parcels:
            self.parcels_by_town.setdefault(x["town_id"], []).append(x)
        self.buildings_by_town: dict[int, list[dict]] = {}
        for b in world.buildings:
            self.buildings_by_town.setdefault(b["town_id"], []).append(b)
        self.stale_days = settings.INVESTMAP_PROJECT_STALE_DAYS
        self.signed_limit = settings.INVESTMAP_PROJECT_SIGNED_NOT_REGISTERED_DAYS
        self.land_limit = settings.INVESTMAP_PROJECT_LAND_NOT_STARTED_DAYS

    def run(self) -> list[_Plan]:
        n = self.count
        plans = [_Plan(i) for i in range(n)]
        for p in plans:
            p.rs = Stream(Generator(PCG64(SeedSequence([self.seed, STEP + 2, p.i]))), chunk=512)
        categories = _shuffle(self.rs, _quota(CATEGORY_MIX, n))
        if not self.expanders:  # no enterprise to expand: new land instead
            categories = ["new_land" if c == "expansion" else c for c in categories]
        for p, c in zip(plans, categories, strict=True):
            p.category = c
        self.deal_stages(plans)
        for p in plans:
            self.core(p)
        self.ensure_majors(plans)
        anomalies = {"signed": 0, "land_obtained": 0}
        for p in plans:
            self.figures(p)
            self.dates(p, anomalies)
        self.mark_imported(plans)
        for p in plans:
            self.space(p)
            self.timeline(p)
        self.assign_codes(plans)
        return plans

    # categories and stages
    def deal_stages(self, plans: list[_Plan]) -> None:
        stages = _quota(STAGE_MIX, len(plans))
        with_land = [p for p in plans if "land_obtained" in lifecycle.path(p.category)]
        land = [s for s in stages if s == "land_obtained"]
        others = _shuffle(self.rs, [s for s in stages if s != "land_obtained"])
        chosen = set()
        for j in _shuffle(self.rs, list(range(len(with_land))))[: len(land)]:
            chosen.add(with_land[j].i)
        land_left = len(land) - len(chosen)  # fewer land categories than land quotas
        others += ["registered"] * land_left
        others = _shuffle(self.rs, others)
        k = 0
        for p in plans:
            if p.i in chosen:
                p.stage = "land_obtained"
            else:
                p.stage = others[k]
                k += 1

    # investor, industry, place, amount
    def core(self, p: _Plan) -> None:
        rs = p.rs
        if p.category == "expansion":
            p.investor = self.pick_enterprise(rs, self.expanders, prefer_above=True)
            p.chain = p.investor.chain
        else:
            p.chain = Weighted(CHAIN_MIX[p.category]).draw(rs)
            pool = self.ents_by_chain.get(p.chain, [])
            share = {"new_land": 0.12, "stock_space": 0.15, "hq_rd": 0.25}[p.category]
            if pool and rs.chance(share):
                p.investor = self.pick_enterprise(rs, pool, prefer_above=True)
        if p.investor is not None:
            e = p.investor
            p.industry_code = e.industry_code
            p.investor_name = e.name
            p.short = _short(e.name)
            p.foreign = "（上海）" in e.name
            p.contact = (e.contact_name, e.contact_phone, e.contact_email)
            p.town_id = e.town_id
            p.park_id = e.park_id if p.category == "expansion" or rs.chance(0.5) else None
        else:
            p.industry_code = self.pick_class(rs, p.chain, p.category)
            self.outside_investor(p)
            self.place(p)
        info = CLASS_INFO.get(p.industry_code)
        if info is None:
            info = ("", ((CHAINS[p.chain].name, "", 0, 0),))
        p.node = f"{CHAINS[p.chain].name}·{info[0]}" if info[0] else CHAINS[p.chain].name
        p.product = rs.pick(info[1])
        median, sigma, lo, hi = AMOUNT[p.category]
        p.total = _wan(min(hi, max(lo, median * math.exp(rs.normal(0.0, sigma)))))
        if p.industry_code in HEAVY and p.category in ("new_land", "expansion"):
            p.total = max(p.total, _wan(MAJOR_WAN * rs.uniform(1.0, 3.0)))
        p.strategic = rs.chance(0.07 if p.chain in ("ic", "bio") else 0.03)

    def pick_enterprise(self, rs: Stream, pool: list[_Ent], *, prefer_above: bool) -> _Ent:
        weights = Weighted(
            pool, [3.0 if prefer_above and e.scale == "above" else 1.0 for e in pool]
        )
        e = weights.draw(rs)
        for _ in range(20):
            if e.id not in self.used_investors:
                break
            e = weights.draw(rs)
        self.used_investors.add(e.id)
        return e

    @staticmethod
    def pick_class(rs: Stream, chain: str, category: str) -> str:
        classes = list(CHAINS[chain].classes)
        if chain in FACTORY_CHAINS and category in ("new_land", "stock_space"):
            classes = [c for c in classes if c[3]] or classes
        if category == "stock_space":
            classes = [c for c in classes if c[0] not in HEAVY] or classes
        elif category == "hq_rd":
            classes = [c for c in classes if not c[3]] or classes
        return Weighted(classes, [c[1] for c in classes]).draw(rs)[0]

    def outside_investor(self, p: _Plan) -> None:
        rs = p.rs
        words = next(c[2] for c in CHAINS[p.chain].classes if c[0] == p.industry_code)
        word = rs.pick(words)
        trade = "".join(rs.pick(vocab.TRADE)[0] for _ in range(2))
        roll = rs.random()
        if roll < 0.12:
            trade = rs.pick(vocab.FOREIGN_TRADE)
            name = f"{trade}{word}（中国）有限公司"
            p.foreign = True
        elif roll < 0.25:
            name = f"{trade}{word}集团股份有限公司"
        else:
            tail = "" if word.endswith(SELF_CONTAINED) else rs.pick(("科技", "技术", ""))
            name = f"{rs.pick(OUTSIDE_CITIES)}{trade}{word}{tail}有限公司"
        p.investor_name = name
        p.short = trade + ("集团" if "集团" in name else "")
        person, local = codes.person(rs)
        domain = "".join(dict(vocab.TRADE).get(c, "") for c in trade) or "invest"
        p.contact = (person, codes.mobile(rs), f"{local}@{domain}.com")

    def place(self, p: _Plan) -> None:
        rs = p.rs
        themed = [pk for pk in self.w.parks if pk["theme"] == p.chain]
        if themed and rs.chance(0.6):
            park = rs.pick(themed)
            p.town_id, p.park_id = park["town_id"], park["id"]
            return
        towns = [t["id"] for t in self.w.towns]
        p.town_id = Weighted(towns, [self.w.town_weight[t] for t in towns]).draw(rs)
        parks = self.parks_by_town.get(p.town_id, [])
        p.park_id = rs.pick(parks)["id"] if parks and rs.chance(0.3) else None

    def ensure_majors(self, plans: list[_Plan]) -> None:
        """A few 10亿+ projects whatever the draw: the largest ones are raised if needed."""
        want = max(2, len(plans) // 50)
        have = sum(1 for p in plans if p.total >= MAJOR_WAN)
        big = sorted(
            (p for p in plans if p.category != "stock_space" and p.total < MAJOR_WAN),
            key=lambda p: (-p.total, p.i),
        )
        for p in big[: max(0, want - have)]:
            p.total = _wan(MAJOR_WAN * self.rs.uniform(1.05, 3.0))

    # figures
    def figures(self, p: _Plan) -> None:
        rs, chain = p.rs, CHAINS[p.chain]
        total = p.total
        fixed = _wan(total * rs.uniform(*FIXED_SHARE[p.category]))
        factory = p.chain in FACTORY_CHAINS
        early = p.stage in ("lead", "negotiating")
        if p.chain == "ic" and factory:
            output = fixed * rs.uniform(0.6, 1.5)
        elif p.chain == "logistics":
            output = total * rs.uniform(0.4, 1.0)
        elif p.category == "hq_rd" or not factory:
            output = total * rs.uniform(0.8, 3.0)
        else:
            output = fixed * rs.uniform(1.0, 2.5)
        tax_rate = rs.uniform(0.06, 0.12) if not factory else rs.uniform(0.03, 0.08)
        jobs = max(10, int(output / rs.uniform(*chain.wan_per_employee)))
        f = {
            "total_investment_wan": total,
            "fixed_asset_investment_wan": fixed,
            "foreign_investment_wan": _wan(total * rs.uniform(0.4, 1.0)) if p.foreign else None,
            "registered_capital_wan": (
                None if early and rs.chance(0.5) else _wan(total * rs.uniform(0.1, 0.5))
            ),
            "expected_output_wan": None if early and rs.chance(0.3) else _wan(output),
            "expected_tax_wan": None if early and rs.chance(0.4) else _wan(output * tax_rate),
            "expected_jobs": None if early and rs.chance(0.3) else jobs,
            "land_area_mu": None,
            "expected_rd_share": None,
            "expected_energy_tce_per_wan": None,
        }
        if p.category in ("new_land", "expansion"):
            intensity = rs.uniform(350, 1000) if p.category == "new_land" else rs.uniform(300, 800)
            f["land_area_mu"] = round(max(8.0, fixed / intensity), 1)
        if rs.chance(0.7):
            f["expected_rd_share"] = round(
                rs.uniform(0.04, 0.15)
                if p.chain in ("ic", "bio") or p.category == "hq_rd"
                else rs.uniform(0.015, 0.05),
                3,
            )
        if factory and p.category != "hq_rd" and rs.chance(0.75):
            f["expected_energy_tce_per_wan"] = round(
                rs.uniform(*chain.energy_tce_per_wan) / rs.uniform(*chain.value_added), 3
            )
        p.fields = f

    # dates
    def dates(self, p: _Plan, anomalies: dict) -> None:
        rs = p.rs
        path = lifecycle.path(p.category)
        if p.stage == "on_hold":
            p.held_from = self.pick_reached(rs, HOLD_FROM, path)
            reached = p.held_from
        elif p.stage == "dropped":
            reached = self.pick_reached(rs, DROP_FROM, path)
        else:
            reached = p.stage
        steps = path[: path.index(reached) + 1]
        gaps = []
        for s in steps[1:]:
            spec = GAP_NO_LAND.get(s) if "land_obtained" not in path else None
            gaps.append(_days(rs, spec or GAP[s]))
        limit = self.stale_days.get(p.stage)
        if p.stage in ("on_hold", "dropped"):
            before_event = _days(rs, (10, 45, 200))
            since_event = _days(rs, (0, 60, 400))
            stale = p.stage == "on_hold" and rs.chance(0.3)
            if stale:
                since_event = max(since_event, limit + rs.integers(5, 150))
            dwell = before_event + since_event
        else:
            dwell = _days(rs, DWELL[p.stage])
            long_wait = {"signed": self.signed_limit, "land_obtained": self.land_limit}.get(p.stage)
            if long_wait is not None and (anomalies[p.stage] == 0 or rs.chance(0.15)):
                dwell = long_wait + rs.integers(10, 200)  # signed, not registered; land, no works
                anomalies[p.stage] += 1
            stale = limit is not None and rs.chance(0.15)
            if stale:
                dwell = max(dwell, limit + rs.integers(5, 150))
        start = self.as_of - dt.timedelta(days=dwell + sum(gaps))
        p.lead_on = start
        day = start
        for s, g in zip(steps[1:], gaps, strict=True):
            day += dt.timedelta(days=g)
            p.milestones[s] = day
        last_ms = day
        if p.stage in ("on_hold", "dropped"):
            p.event_on = last_ms + dt.timedelta(days=before_event)
            if p.stage == "dropped":
                p.drop_reason = rs.pick(DROP_REASONS)
                p.last_touch = p.event_on
                return
            p.hold_reason = rs.pick(HOLD_REASONS)
            last_ms = p.event_on
        p.last_touch = self.touch(rs, last_ms, limit, stale)

    def pick_reached(self, rs: Stream, weights: dict[str, int], path) -> str:
        options = {s: w for s, w in weights.items() if s in path}
        return Weighted(options).draw(rs)

    def touch(self, rs: Stream, last_ms: dt.date, limit: int | None, stale: bool) -> dt.date:
        """The latest activity day: older than the stage's limit when stale, recent otherwise."""
        span = (self.as_of - last_ms).days
        if stale:
            latest = span - limit - 1  # days after last_ms
            return last_ms + dt.timedelta(days=rs.integers(0, max(0, latest) + 1))
        window = min(span, (limit - 1) if limit else 200)
        return self.as_of - dt.timedelta(days=rs.integers(0, window + 1))

    # imported projects, some with milestones out of order
    def mark_imported(self, plans: list[_Plan]) -> None:
        eligible = [
            p
            for p in plans
            if p.stage in ("registered", "land_obtained", "construction", "completed", "production")
        ]
        n_bad = min(len(eligible), max(2, len(plans) // 100))
        for p in _shuffle(self.rs, eligible)[:n_bad]:
            p.imported = p.out_of_order = True
            ms = p.milestones
            if "land_obtained" in ms and "construction" in ms:
                # Works started before the land grant (未批先建), as the OA system recorded it.
                ms["construction"] = ms["land_obtained"] - dt.timedelta(
                    days=self.rs.integers(10, 90)
                )
            else:  # the project company registered before the agreement was signed
                ms["registered"] = ms["signed"] - dt.timedelta(days=self.rs.integers(5, 60))
        for p in plans:
            if (
                not p.imported
                and p.milestones
                and p.stage in lifecycle.PATH
                and self.rs.chance(0.04)
            ):
                p.imported = True
        for p in plans:
            if p.imported:
                last = max([p.lead_on, *p.milestones.values()])
                p.import_on = min(self.as_of, last + dt.timedelta(days=self.rs.integers(1, 30)))
                p.last_touch = max(p.last_touch, p.import_on)

    # site: parcels of new-land and expansion projects that have land, buildings of others
    def space(self, p: _Plan) -> None:
        rs = p.rs
        if p.category == "expansion" and p.investor is not None and p.investor.parcel_id:
            p.parcel_id = p.investor.parcel_id
            return
        ms = p.milestones
        if p.category == "new_land" and "land_obtained" in ms:
            uses = LAND_USES.get(p.chain, ("M1", "M2"))
            candidates = [
                x
                for x in self.parcels_by_town.get(p.town_id, [])
                if x["id"] not in self.used_parcels and x["land_use"] in uses
            ]
            in_park = [x for x in candidates if p.park_id and x["park_id"] == p.park_id]
            pool = in_park or candidates
            if pool:
                area = p.fields["land_area_mu"]
                pool = sorted(pool, key=lambda x: (abs(x["area_mu"] - area), x["code"]))[:5]
                chosen = rs.pick(pool)
                self.used_parcels.add(chosen["id"])
                p.parcel_id = chosen["id"]
                p.fields["land_area_mu"] = round(chosen["area_mu"], 1)
                if chosen["park_id"] is not None and p.park_id is None:
                    p.park_id = chosen["park_id"]
        elif p.category in ("stock_space", "hq_rd") and "registered" in ms:
            kind = (
                "factory" if p.chain in FACTORY_CHAINS and p.category == "stock_space" else "office"
            )
            types = BUILDING_FOR[kind]
            pool = [
                b for b in self.buildings_by_town.get(p.town_id, []) if b["building_type"] in types
            ]
            in_park = [b for b in pool if p.park_id and b["park_id"] == p.park_id]
            if (in_park or pool) and rs.chance(0.8):
                b = rs.pick(in_park or pool)
                p.building_id = b["id"]
                if b["park_id"] is not None and p.park_id is None:
                    p.park_id = b["park_id"]

    # the timeline: signings, capital, stage changes, activities, team, name, tags
    def timeline(self, p: _Plan) -> None:
        rs = p.rs
        f = p.fields
        ms = p.milestones
        self.team(p)
        p.fields["strategic"] = p.strategic
        # Signings: first at signed_on; an increase on some registered-or-later projects.
        if "signed" in ms:
            first = p.total
            if "registered" in ms and rs.chance(0.1) and p.last_touch > ms["signed"]:
                inc = _wan(p.total * rs.uniform(0.1, 0.35))
                low = max(ms.values())
                on = low + dt.timedelta(days=rs.integers(0, max(1, (p.last_touch - low).days) + 1))
                on = min(on, p.last_touch)
                p.increases.append((on, inc))
                first = _wan(p.total - inc)
                p.total = first + inc
                f["total_investment_wan"] = p.total
        # Capital arrived since the works started.
        if "construction" in ms:
            share = {"construction": (0.15, 0.6), "completed": (0.6, 0.95)}.get(
                max(ms, key=lambda s: lifecycle.PATH.index(s)), (0.85, 1.0)
            )
            target = f["fixed_asset_investment_wan"] * rs.uniform(*share)
            start = ms["construction"]
            end = max(start, p.last_touch)
            k = rs.integers(1, 7)
            cuts = sorted(rs.random() for _ in range(k - 1))
            parts = [b - a for a, b in zip([0.0, *cuts], [*cuts, 1.0], strict=True)]
            days = sorted(rs.integers(0, (end - start).days + 1) for _ in range(k))
            for part, d in zip(parts, days, strict=True):
                amount = _wan(max(target * part, 1.0))
                p.arrivals.append((start + dt.timedelta(days=d), amount))
        if p.stage == "production":
            f["actual_investment_wan"] = _wan(
                f["fixed_asset_investment_wan"] * rs.uniform(0.85, 1.1)
            )
            if f["expected_output_wan"] is not None:
                f["actual_output_wan"] = _wan(f["expected_output_wan"] * rs.uniform(0.6, 1.2))
            if f["expected_tax_wan"] is not None:
                f["actual_tax_wan"] = _wan(f["expected_tax_wan"] * rs.uniform(0.6, 1.2))
            if f["expected_rd_share"] is not None:
                f["actual_rd_share"] = round(f["expected_rd_share"] * rs.uniform(0.7, 1.3), 3)
            if f["expected_energy_tce_per_wan"] is not None:
                f["actual_energy_tce_per_wan"] = round(
                    f["expected_energy_tce_per_wan"] * rs.uniform(0.8, 1.3), 3
                )
        self.name(p)
        self.tags(p)
        self.rows(p)

    def team(self, p: _Plan) -> None:
        rs = p.rs
        town_unit = self.town_by_id[p.town_id]["org_unit_id"]
        town_teams = self.w.teams_of_unit.get(town_unit, [])
        park_teams = []
        if p.park_id is not None:
            park_teams = self.w.teams_of_unit.get(self.park_by_id[p.park_id]["org_unit_id"], [])
        if self.w.district_team_id and p.total >= MAJOR_WAN and rs.chance(0.5):
            p.team_id = self.w.district_team_id
        elif park_teams and rs.chance(0.7):
            p.team_id = rs.pick(park_teams)
        elif town_teams:
            p.team_id = rs.pick(town_teams)
        elif park_teams:
            p.team_id = rs.pick(park_teams)

    def name(self, p: _Plan) -> None:
        rs = p.rs
        product, unit, lo, hi = p.product
        short = p.short
        cap = ""
        heavy = p.industry_code in HEAVY
        if unit and not (heavy and p.category in ("stock_space", "hq_rd")):
            # Capacity grows with the investment (about as its 0.8th power) around the typical.
            ref = AMOUNT[p.category][0] * (6 if heavy else 1)
            v = math.sqrt(lo * hi) * (p.total / ref) ** 0.8 * rs.uniform(0.8, 1.25)
            cap = f"{_capacity(min(hi * 1.5, max(lo * 0.25, v))):g}{unit}"
        c = p.category
        if c == "hq_rd":
            forms = [
                "{s}总部及研发中心项目",
                "{s}华东区域总部项目",
                "{s}{p}研发中心项目",
                "{s}上海总部项目",
            ]
        elif c == "expansion":
            forms = ["{s}二期扩建项目", "{s}{p}技术改造项目", "{s}智能化改造项目"]
            if cap:
                forms += ["{s}年产{cap}{p}扩产项目"] * 2
        elif c == "new_land":
            forms = ["{s}{p}生产基地项目", "{s}{p}智能制造基地项目"]
            if cap:
                forms += ["{s}年产{cap}{p}项目"] * 3
            if p.chain in ("logistics", "services"):
                forms = ["{s}{p}项目"]
        else:
            forms = ["{s}{p}研发及产业化项目", "{s}{p}生产线项目"]
            if cap:
                forms += ["{s}年产{cap}{p}项目"]
            if p.chain in ("services", "logistics"):
                forms = ["{s}{p}中心项目", "{s}华东运营中心项目", "{s}{p}平台项目"]
        name = rs.pick(forms).format(s=short, p=product, cap=cap)
        for word in ("中心", "平台"):  # "物联网平台平台项目" → "物联网平台项目"
            name = name.replace(word + word, word)
        for n in ("二", "三", "四", "五"):
            if name not in self.used_names:
                break
            name = name.removesuffix("项目") + f"（{n}期）项目"
        self.used_names.add(name)
        p.fields["name"] = name

    def tags(self, p: _Plan) -> None:
        rs = p.rs
        tags = []
        if p.foreign:
            tags.append("外资项目")
        if p.category == "hq_rd":
            tags.append("总部经济")
        if p.total >= MAJOR_WAN and rs.chance(0.6):
            tags.append("市重大项目")
        if p.category == "new_land" and rs.chance(0.5):
            tags.append("标准地")
        for _ in range(rs.integers(0, 3)):
            t = rs.pick(TAGS)
            if t not in tags:
                tags.append(t)
        if p.imported:
            tags.append("OA导入")
        p.tags = tags

    def rows(self, p: _Plan) -> None:
        """Stage changes and the activities of the timeline."""
        rs = p.rs
        path = lifecycle.path(p.category)
        ms = p.milestones
        town = self.town_by_id[p.town_id]["name"]
        fill = {"s": p.short, "t": town, "c": p.contact[0] or "企业联系人"}
        acts = p.activities
        if p.imported:
            reached = max(ms, key=lambda s: path.index(s)) if ms else "lead"
            p.stage_changes.append(("lead", reached, p.import_on, "OA系统导入"))
            acts.append(("created", p.import_on, "由OA系统导入"))
            acts.append(("stage", p.import_on, f"{STAGE_ZH['lead']} → {STAGE_ZH[reached]}（导入）"))
            since = p.import_on
        else:
            acts.append(("created", p.lead_on, f"项目入库（来源：{rs.pick(SOURCES)}）"))
            prev = "lead"
            for s in path[1:]:
                if s not in ms:
                    break
                p.stage_changes.append((prev, s, ms[s], ""))
                text = f"{STAGE_ZH[prev]} → {STAGE_ZH[s]}"
                if s == "signed":
                    first = p.total - sum(a for _d, a in p.increases)
                    text += f"（签约投资{first:g}万元）"
                acts.append(("stage", ms[s], text))
                prev = s
            since = p.lead_on
        if p.stage == "on_hold":
            p.stage_changes.append((p.held_from, "on_hold", p.event_on, p.hold_reason))
            acts.append(("stage", p.event_on, f"{STAGE_ZH[p.held_from]} → 暂缓（{p.hold_reason}）"))
        if p.stage == "dropped":
            reached = max(ms, key=lambda s: path.index(s)) if ms else "lead"
            p.stage_changes.append((reached, "dropped", p.event_on, p.drop_reason))
            acts.append(("stage", p.event_on, f"{STAGE_ZH[reached]} → 终止（{p.drop_reason}）"))
        for on, amount in p.increases:
            acts.append(("note", on, f"签订补充协议，增资{amount:g}万元"))
        for on, amount in p.arrivals:
            acts.append(("capital", on, f"{amount:g} 万元"))
        # User entries between the start (or import) and the last touch; the last on that day.
        span = (p.last_touch - since).days
        n = max(1, min(12, int(span / 75 * rs.uniform(0.6, 1.3)) + 1))
        days = sorted(rs.integers(0, span + 1) for _ in range(n - 1)) + [span]
        for d in days:
            on = since + dt.timedelta(days=d)
            kind = ACTIVITY_KINDS.draw(rs)
            stage_then = self.stage_on(p, on)
            if stage_then == "on_hold":
                text = rs.pick(TEXTS_HOLD[kind])
            else:
                text = rs.pick(TEXTS[(kind, PHASE[stage_then])]).format(**fill)
            acts.append((kind, on, text))
        # A visit scheduled after as_of (does not reset the rot clock).
        if p.stage not in ("dropped", "production") and rs.chance(0.08):
            on = self.as_of + dt.timedelta(days=rs.integers(3, 21))
            acts.append(("visit", on, rs.pick(SCHEDULED).format(**fill)))

    @staticmethod
    def stage_on(p: _Plan, day: dt.date) -> str:
        if p.stage == "on_hold" and day >= p.event_on:
            return "on_hold"
        current = "lead"
        for s in lifecycle.path(p.category)[1:]:
            d = p.milestones.get(s)
            if d is not None and d <= day:
                current = s
        return current

    def assign_codes(self, plans: list[_Plan]) -> None:
        per_year: dict[int, int] = {}
        for p in sorted(plans, key=lambda p: (p.lead_on, p.i)):
            y = p.lead_on.year
            per_year[y] = per_year.get(y, 0) + 1
            p.code = f"XM{y}-{per_year[y]:04d}"


def _capacity(v: float) -> float:
    """A capacity as project names give it: 3.5, 12, 40, 800, 12000."""
    if v < 10:
        return max(round(v, 1), 0.5)
    if v < 100:
        return float(round(v))
    if v < 1000:
        return float(round(v, -1))
    return float(round(v, -2))


def _short(name: str) -> str:
    """The short name of a company, as project names use it: '上海澜芯汽车零部件科技有限公司' → '澜芯科技'."""
    rest = name
    for city in ("上海", *OUTSIDE_CITIES):
        if rest.startswith(city):
            rest = rest[len(city) :]
            break
    for foreign in vocab.FOREIGN_TRADE:
        if rest.startswith(foreign):
            return foreign
    for suffix in ("股份有限公司", "有限公司"):
        rest = rest.removesuffix(suffix)
    if len(rest) <= 4:
        return rest
    for suffix in SHORT_SUFFIXES:
        if rest.endswith(suffix):
            return rest[:2] + suffix
    return rest[:2]


# --- storing -------------------------------------------------------------------------------------


def _store(plans: list[_Plan], officers: dict[int, User], as_of: dt.date, history: bool) -> dict:
    now = timezone.now()
    objs = []
    for p in plans:
        f = dict(p.fields)
        officer = officers.get(p.town_id)
        touched = [d for _k, d, _t in p.activities if d <= as_of]
        objs.append(
            Project(
                code=p.code,
                external_id=f"OA-{p.code.removeprefix('XM')}" if p.imported else None,
                investor_id=p.investor.id if p.investor else None,
                investor_name=p.investor_name,
                contact_name=p.contact[0],
                contact_phone=p.contact[1],
                contact_email=p.contact[2],
                industry_code=p.industry_code,
                chain_node=p.node,
                category=p.category,
                town_id=p.town_id,
                park_id=p.park_id,
                team_id=p.team_id,
                officer=officer,
                grade=grade_for(f["total_investment_wan"], p.strategic),
                tags=p.tags,
                building_id=p.building_id,
                stage=p.stage,
                held_from=p.held_from,
                drop_reason=p.drop_reason,
                lead_on=p.lead_on,
                last_touched_on=max(touched) if touched else None,
                **{MILESTONE_FIELDS[s]: d for s, d in p.milestones.items()},
                **f,
            )
        )
    if history:
        bulk_create_with_history(
            objs,
            Project,
            batch_size=BATCH,
            default_change_reason=CHANGE_REASON,
            default_date=now,
        )
    else:
        Project.objects.bulk_create(objs, batch_size=BATCH)
    ids = dict(Project.objects.values_list("code", "id"))
    through = Project.parcels.through
    links = [through(project_id=ids[p.code], parcel_id=p.parcel_id) for p in plans if p.parcel_id]
    through.objects.bulk_create(links, batch_size=BATCH)
    if history and links:
        # The m2m history rows copy the through rows (their id included), as simple-history does.
        hist = dict(Project.history.values_list("id", "history_id"))
        rows = through.objects.order_by("id").values_list("id", "project_id", "parcel_id")
        m2m = _m2m_history_model()
        m2m.objects.bulk_create(
            [
                m2m(id=i, history_id=hist[project], project_id=project, parcel_id=parcel)
                for i, project, parcel in rows
            ],
            batch_size=BATCH,
        )
    activities, changes, signings, arrivals = [], [], [], []
    for p in plans:
        pid = ids[p.code]
        officer = officers.get(p.town_id)
        for kind, on, text in sorted(p.activities, key=lambda a: a[1]):
            activities.append(Activity(project_id=pid, kind=kind, on=on, text=text, user=officer))
        for a, b, on, reason in p.stage_changes:
            changes.append(
                StageChange(
                    project_id=pid, from_stage=a, to_stage=b, on=on, reason=reason, user=officer
                )
            )
        if "signed" in p.milestones:
            first = p.total - sum(a for _d, a in p.increases)
            signings.append(
                SigningEvent(
                    project_id=pid,
                    kind="first",
                    on=p.milestones["signed"],
                    amount_wan=first,
                    investor_name=p.investor_name,
                )
            )
            for on, amount in p.increases:
                signings.append(
                    SigningEvent(
                        project_id=pid,
                        kind="increase",
                        on=on,
                        amount_wan=amount,
                        investor_name=p.investor_name,
                        note="补充协议增资",
                    )
                )
        for on, amount in p.arrivals:
            arrivals.append(CapitalArrival(project_id=pid, on=on, amount_wan=amount, user=officer))
    Activity.objects.bulk_create(activities, batch_size=BATCH)
    StageChange.objects.bulk_create(changes, batch_size=BATCH)
    SigningEvent.objects.bulk_create(signings, batch_size=BATCH)
    CapitalArrival.objects.bulk_create(arrivals, batch_size=BATCH)
    return {
        "projects": len(objs),
        "activities": len(activities),
        "stage_changes": len(changes),
        "signings": len(signings),
        "capital_arrivals": len(arrivals),
        "parcel_links": len(links),
    }
