"""Industrial chains of the demo district and the GB/T 4754-2017 classes they use.

Each chain lists the industry classes its enterprises belong to (with a
relative weight and the words that go into enterprise names) and the economic
profile behind their indicators: value-added ratio, R&D intensity, energy
intensity and labour productivity. Figures are typical orders of magnitude for
Shanghai's suburban industry, enough for a plausible demo, not statistics.
"""

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources


@cache
def industry_names() -> dict[str, str]:
    """GB/T 4754-2017 class code → Chinese name, from resources/data/gbt4754_2017.csv."""
    path = resources.files("investmap.resources") / "data" / "gbt4754_2017.csv"
    with path.open(encoding="utf-8") as f:
        return {row["code"]: row["name"] for row in csv.DictReader(f)}


@dataclass(frozen=True)
class Chain:
    key: str
    name: str
    # (GB/T 4754 class, weight, name words, manufacturing?)
    classes: tuple[tuple[str, float, tuple[str, ...], bool], ...]
    value_added: tuple[float, float]  # share of output
    rd_intensity: tuple[float, float]  # R&D spend / revenue
    energy_tce_per_wan: tuple[float, float]  # energy per 10k yuan output
    wan_per_employee: tuple[float, float]  # revenue per employee (10k yuan)


def _c(code, weight, words, manufacturing=True):
    return (code, float(weight), tuple(words.split()), manufacturing)


CHAINS: dict[str, Chain] = {
    "nev": Chain(
        "nev",
        "新能源汽车",
        (
            _c("3612", 1, "新能源汽车 智能汽车 电动汽车"),
            _c("3670", 10, "汽车零部件 汽车部件 汽车电子 热管理系统 精密部件 汽车配件"),
            _c("3841", 3, "新能源电池 锂电 动力电池"),
            _c("3849", 1, "氢能 燃料电池 储能"),
            _c("3813", 2, "电机 电驱动"),
            _c("3824", 2, "功率电子 电力电子"),
            _c("3962", 2, "车载电子 智能座舱 智能驾驶"),
            _c("3660", 1, "专用车 汽车车身"),
        ),
        (0.18, 0.28),
        (0.02, 0.06),
        (0.008, 0.03),
        (120, 260),
    ),
    "ic": Chain(
        "ic",
        "集成电路",
        (
            _c("6520", 6, "微电子 芯片设计 集成电路设计 半导体", False),
            _c("3973", 2, "集成电路 半导体制造"),
            _c("3972", 2, "半导体 功率器件"),
            _c("3562", 3, "半导体设备 精密装备"),
            _c("3985", 3, "电子材料 半导体材料"),
            _c("3976", 1, "光电 光电子"),
            _c("3983", 2, "传感技术 传感器"),
            _c("3982", 2, "电路 线路板"),
        ),
        (0.25, 0.40),
        (0.08, 0.18),
        (0.02, 0.10),
        (150, 350),
    ),
    "bio": Chain(
        "bio",
        "生物医药",
        (
            _c("2710", 2, "医药化工 药业"),
            _c("2720", 3, "制药 药业"),
            _c("2761", 3, "生物制药 生物技术 生物医药"),
            _c("2762", 2, "基因科技 生物制品 疫苗"),
            _c("2770", 1, "医用材料 卫生材料"),
            _c("3581", 3, "医疗科技 医疗设备 医学影像"),
            _c("3584", 3, "医疗器械 医用器械"),
            _c("3544", 1, "制药装备"),
            _c("7340", 4, "医药研发 生物医药研究 新药研究", False),
        ),
        (0.30, 0.45),
        (0.06, 0.15),
        (0.01, 0.05),
        (140, 320),
    ),
    "equip": Chain(
        "equip",
        "智能装备",
        (
            _c("3491", 3, "机器人 自动化 智能装备"),
            _c("3492", 1, "特种机器人"),
            _c("3493", 1, "增材制造 三维打印"),
            _c("3421", 2, "数控机床 精密机床"),
            _c("3425", 2, "机床附件 精密机械"),
            _c("4011", 3, "自动化控制 工业控制 智能控制"),
            _c("3914", 1, "工控系统"),
            _c("3441", 1, "泵业 真空设备"),
            _c("3453", 2, "传动 减速机 齿轮"),
            _c("3444", 1, "液压 液压技术"),
            _c("3467", 1, "包装机械"),
            _c("4014", 1, "分析仪器 仪器"),
            _c("4028", 1, "测试技术 电子测量"),
        ),
        (0.22, 0.32),
        (0.03, 0.08),
        (0.01, 0.04),
        (100, 220),
    ),
    "services": Chain(
        "services",
        "生产性服务业",
        (
            _c("6513", 4, "软件 信息技术 网络科技 数字科技", False),
            _c("6531", 3, "信息系统 智能科技", False),
            _c("6532", 2, "物联网", False),
            _c("6450", 1, "数据科技 大数据", False),
            _c("7320", 3, "工程技术 技术研究", False),
            _c("7452", 2, "检测技术 检测", False),
            _c("7484", 1, "工程设计 建筑设计", False),
            _c("7491", 1, "工业设计", False),
            _c("7530", 1, "科技服务 技术转移", False),
            _c("7212", 2, "投资管理 资产管理", False),
            _c("7224", 2, "供应链管理 供应链", False),
            _c("7243", 1, "企业管理咨询 管理咨询", False),
            _c("7263", 1, "人力资源", False),
            _c("5179", 2, "国际贸易 机电设备", False),
            _c("5175", 1, "电气设备", False),
            _c("5154", 1, "医疗器械", False),
        ),
        (0.35, 0.55),
        (0.01, 0.06),
        (0.002, 0.008),
        (60, 160),
    ),
    "logistics": Chain(
        "logistics",
        "现代物流",
        (
            _c("5920", 3, "仓储 物流", False),
            _c("5930", 1, "冷链物流 冷链", False),
            _c("5910", 1, "物流 装卸", False),
        ),
        (0.30, 0.45),
        (0.002, 0.01),
        (0.005, 0.02),
        (60, 140),
    ),
    "general": Chain(
        "general",
        "传统制造业",
        (
            _c("2929", 3, "塑料制品 塑胶"),
            _c("3311", 2, "钢结构 金属结构"),
            _c("3484", 4, "机械 精密机械 五金"),
            _c("3360", 1, "表面处理 热处理"),
            _c("3391", 1, "铸造 铸件"),
            _c("3525", 2, "模具"),
            _c("3831", 1, "电线电缆 线缆"),
            _c("2641", 1, "涂料 化工"),
            _c("3482", 1, "紧固件 标准件"),
            _c("3399", 2, "金属制品"),
            _c("3352", 1, "水暖器材 建材"),
            _c("2922", 1, "管业 塑料型材"),
            _c("3823", 2, "电气 电气设备"),
            _c("3872", 1, "照明 灯饰"),
            _c("3434", 1, "输送设备"),
        ),
        (0.16, 0.24),
        (0.005, 0.02),
        (0.02, 0.08),
        (80, 180),
    ),
}

# Chains whose enterprises work in factories and the parks that specialise in them.
MANUFACTURING_CHAINS = ("nev", "ic", "bio", "equip")

# Organisations that own and run buildings rather than produce.
PARK_OPERATOR = ("7221", "园区发展")
DEVELOPER = ("7040", "置业")
TOWN_HOLDING = ("7212", "经济发展")

# Words that already end a trade description; the others get 科技/技术/实业.
SELF_CONTAINED = (
    "科技",
    "技术",
    "药业",
    "泵业",
    "电气",
    "机械",
    "物流",
    "仓储",
    "制药",
    "管业",
    "传动",
    "液压",
    "管理",
    "研究",
    "咨询",
    "设计",
    "检测",
    "资源",
    "贸易",
    "供应链",
    "服务",
    "转移",
    "冷链",
    "装卸",
    "研发",
)


def check_codes() -> None:
    """Every class a chain uses is in the GB/T 4754-2017 data file."""
    names = industry_names()
    for chain in CHAINS.values():
        for code, *_ in chain.classes:
            if code not in names:
                raise ValueError(f"chain {chain.key}: {code} is not in gbt4754_2017.csv")
    for code, _word in (PARK_OPERATOR, DEVELOPER, TOWN_HOLDING):
        if code not in names:
            raise ValueError(f"{code} is not in gbt4754_2017.csv")
