"""Word pools for the demo district: places, roads, people, enterprises, POIs.

Everything here is invented or generic; combinations may match real names by
chance, as real Chinese names are built from the same characters. Characters
that feed e-mail addresses carry their pinyin ("字pinyin" pairs).
"""


def _pairs(text: str) -> list[tuple[str, str]]:
    """'王wang 李li' → [('王', 'wang'), ('李', 'li')]."""
    out = []
    for item in text.split():
        out.append((item[0], item[1:]))
    return out


# Surnames, roughly by frequency (the first ones are drawn more often).
SURNAMES = _pairs(
    "王wang 李li 张zhang 刘liu 陈chen 杨yang 黄huang 赵zhao 吴wu 周zhou 徐xu 孙sun 马ma 朱zhu "
    "胡hu 郭guo 何he 林lin 高gao 罗luo 郑zheng 梁liang 谢xie 宋song 唐tang 许xu 邓deng 冯feng "
    "韩han 曹cao 曾zeng 彭peng 蔡cai 潘pan 田tian 董dong 袁yuan 于yu 余yu 叶ye 蒋jiang 杜du "
    "苏su 魏wei 程cheng 吕lv 丁ding 沈shen 任ren 姚yao 卢lu 傅fu 钟zhong 姜jiang 崔cui 谭tan "
    "廖liao 范fan 汪wang 陆lu 金jin 石shi 戴dai 贾jia 韦wei 夏xia 邱qiu 方fang 侯hou 邹zou "
    "熊xiong 孟meng 秦qin 白bai 江jiang 薛xue 尹yin 段duan 雷lei 黎li 史shi 龙long 陶tao 贺he "
    "顾gu 毛mao 郝hao 龚gong 邵shao 万wan 钱qian 严yan 武wu 莫mo 孔kong 汤tang 倪ni 施shi 俞yu"
)

GIVEN = _pairs(
    "伟wei 芳fang 娜na 敏min 静jing 丽li 强qiang 磊lei 军jun 洋yang 勇yong 艳yan 杰jie 娟juan "
    "涛tao 明ming 超chao 秀xiu 霞xia 平ping 刚gang 桂gui 英ying 华hua 玉yu 萍ping 红hong 建jian "
    "文wen 辉hui 力li 斌bin 宇yu 浩hao 凯kai 健jian 俊jun 帆fan 帅shuai 旭xu 宁ning 龙long "
    "林lin 欢huan 佳jia 阳yang 晨chen 婷ting 雪xue 琳lin 晶jing 慧hui 颖ying 倩qian 蕾lei 欣xin "
    "悦yue 彤tong 然ran 梓zi 涵han 轩xuan 睿rui 博bo 宏hong 志zhi 毅yi 峰feng 鹏peng 飞fei "
    "诚cheng 嘉jia 立li 骏jun 琪qi 瑶yao 璐lu 晓xiao 思si 雨yu 子zi 一yi 泽ze 航hang 铭ming "
    "昊hao 昕xin 怡yi 蓉rong 菲fei 岚lan 卿qing 晖hui 翔xiang 淼miao 鑫xin 磊lei 澄cheng 宸chen"
)

# Trade-name characters (字号) with pinyin, for enterprise names and domains.
TRADE = _pairs(
    "澜lan 芯xin 华hua 昊hao 睿rui 泽ze 宇yu 恒heng 瑞rui 鼎ding 凯kai 博bo 德de 远yuan "
    "创chuang 景jing 嘉jia 晟sheng 煜yu 臻zhen 微wei 迈mai 驰chi 启qi 航hang 拓tuo 新xin "
    "源yuan 科ke 天tian 众zhong 达da 信xin 诚cheng 联lian 合he 汇hui 通tong 力li 盛sheng "
    "隆long 丰feng 泰tai 安an 康kang 易yi 优you 卓zhuo 越yue 精jing 锐rui 峰feng 川chuan "
    "海hai 洋yang 星xing 辰chen 光guang 明ming 晶jing 曜yao 云yun 麒qi 麟lin 弘hong 鸿hong "
    "志zhi 宏hong 伟wei 美mei 欣xin 悦yue 朗lang 逸yi 亿yi 万wan 金jin 钛tai 铂bo 钧jun "
    "璟jing 瀚han 澄cheng 淞song 申shen 松song 青qing 蓝lan 翼yi 鹏peng 骏jun 捷jie 思si "
    "维wei 纳na 格ge 特te 斯si 普pu 莱lai 奥ao 雅ya 艾ai 迪di 威wei 英ying 立li 中zhong "
    "荣rong 茂mao 昌chang 兴xing 旭xu 宸chen 峻jun 纬wei 经jing 坤kun 乾qian 禾he 稷ji"
)

# Invented foreign-sounding names for foreign-invested enterprises.
FOREIGN_TRADE = [
    "维斯顿",
    "卡罗特",
    "诺贝伦",
    "艾德维",
    "斯坦勒",
    "弗莱森",
    "贝克伦",
    "奥德曼",
    "凯斯勒",
    "霍夫纳",
    "米勒斯",
    "安柏瑞",
    "塞德龙",
    "杜兰特",
    "梅斯科",
    "瑞普森",
    "伯格林",
    "洛克菲",
]

# Two-character place stems for the district, towns, villages, parks.
DISTRICT_NAMES = ["淞泽区", "澄湖区", "泖川区", "青淞区", "浦源区", "云泾区", "申沙区", "湖滨新区"]

TOWN_FIRST = list(
    "金新朱沈钱白枫泖淀练香徐华纪马江罗蕴月顾庄望安盛虹凤龙石青天永宝福泗洞叶亭章车佘"
)
TOWN_SECOND = list("泾桥浦港塘泽溪湖湾浜庄行舍埭汇渡堰墩滩桥泾")
VILLAGE_SECOND = list("家宅巷浜圩庄墩湾浦塘")

# Road-name stems: two characters, combined with 路 / 公路 / 大道 / 街.
ROAD_FIRST = list(
    "华新青松泽兴盈港浦湖荣乐嘉禾丰茂振业光明胜利润和顺云霞锦绣瑞祥汇金玉龙凤天文博创智芯科联通昌宁安康泰永长广东南西北中民建"
)
ROAD_SECOND = list(
    "华新青松泽兴盈港浦湖荣乐嘉禾丰茂振业光明胜利润和顺云霞锦绣瑞祥汇金玉龙凤天文博创智芯科联通昌宁安康泰永"
)

# Park name themes by industrial chain (park names: town stem + theme).
PARK_THEMES = {
    "nev": ["新能源汽车产业园", "智能网联汽车产业园", "汽车零部件产业园"],
    "ic": ["集成电路产业园", "芯片产业园", "半导体产业园"],
    "bio": ["生物医药园", "生命健康产业园", "医疗器械产业园"],
    "equip": ["智能制造产业园", "高端装备产业园", "机器人产业园"],
    "services": ["科技创新园", "科创园", "数字经济产业园"],
}

# POI name parts.
RETAIL_BRANDS = [
    "联华超市",
    "家乐购",
    "好德便利",
    "快客便利",
    "盒马鲜生",
    "永辉超市",
    "全家便利店",
    "罗森便利店",
    "大润发",
    "邻里生鲜",
]
MALL_SUFFIX = [
    "商业广场",
    "购物中心",
    "生活广场",
    "万达广场",
    "天街",
    "邻里中心",
    "菜市场",
    "五金建材市场",
    "家居广场",
]
SCHOOL_KINDS = [
    "幼儿园",
    "小学",
    "中学",
    "实验学校",
    "外国语学校",
    "初级中学",
    "高级中学",
    "职业技术学校",
    "学校",
]
HOSPITAL_KINDS = [
    "社区卫生服务中心",
    "社区卫生服务站",
    "门诊部",
    "口腔门诊部",
    "中医诊所",
    "诊所",
    "卫生室",
    "医院",
    "妇幼保健所",
]
GREEN_KINDS = [
    "公园",
    "口袋公园",
    "绿地",
    "滨河绿地",
    "体育公园",
    "街心花园",
    "郊野公园",
    "湿地公园",
]
HOUSING_KINDS = ["人才公寓", "青年公寓", "公共租赁住房", "人才安居苑", "蓝领公寓"]
UNIVERSITY_KINDS = [
    "大学",
    "理工大学",
    "师范大学",
    "职业技术学院",
    "工程技术大学",
    "医科大学",
    "科技学院",
]
INCUBATOR_KINDS = ["众创空间", "孵化器", "创新中心", "加速器", "创业园", "双创基地"]
RD_KINDS = ["研发中心", "技术研究院", "工程技术中心", "创新研究院", "研究所"]
KEY_LAB_FIELDS = [
    "智能网联汽车",
    "动力电池安全",
    "先进封装",
    "功率半导体",
    "细胞与基因治疗",
    "生物制药工艺",
    "工业机器人",
    "精密驱动",
    "高端医疗器械",
    "新型显示",
    "智能传感",
    "氢能与燃料电池",
    "工业互联网",
    "先进激光制造",
    "生物材料",
    "数字孪生",
]
KEY_LAB_KINDS = ["重点实验室", "工程研究中心", "工程技术研究中心", "企业技术中心"]
EXPRESSWAY_NAMES = ["S28澄湖高速", "S31沪淞高速", "G1505绕城高速", "S17申泖高速"]
METRO_LINE_NUMBERS = [19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 31, 33, 36]

# Team titles and specialities.
TEAM_TITLES = ["组长", "副组长", "招商经理", "项目经理", "招商专员", "服务专员"]
SPECIALITIES = [
    "新能源汽车",
    "集成电路",
    "生物医药",
    "智能装备",
    "生产性服务业",
    "楼宇招商",
    "土地招商",
    "外资招商",
    "科技成果转化",
]
