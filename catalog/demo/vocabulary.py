"""Chancheng's places and the word lists the demo's value generators draw names from.

Real street, road, community, river and hospital names of 禅城区, so that generated
records read like the district's own registers.
"""

# Chancheng's extent; every generated point falls inside it.
LAT_RANGE = (22.96, 23.08)
LON_RANGE = (113.02, 113.15)
REGION_CODE = "440604"  # 行政区划代码 of 禅城区


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


SURNAMES = _words(
    "陈 李 黄 梁 何 张 刘 林 罗 吴 冯 潘 区 麦 冼 霍 关 杨 周 郭 谢 邓 曾 叶 苏 卢 蔡 "
    "伍 谭 钟 邝 岑 彭 王 赵 徐 朱 胡 高 郑 许 韩 曹 欧阳 司徒"
)
GIVEN_NAME_CHARS = tuple(
    "伟芳敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力嘉俊欣颖婷志宏健晓慧"
    "梓浩宇子轩诗琪佳怡思雨泽瑞锦铭键彬燕雯婉锐永乐淑琳家豪凯峰翠"
)
# Two of these make a plausible shop or company 字号 (trade name).
TRADE_NAME_CHARS = tuple(
    "宏图华美鸿运骏达新锐瑞丰恒信粤佳金盛汇通嘉禾隆基南方联创德力兴发永利博雅顺景星辉鼎安泰"
    "锦程亿宝合和诚富源晟豪威洋润昌泽腾远卓越"
)
_ROADS_BY_STREET_TEXT = {
    "祖庙街道": "汾江中路 汾江南路 人民路 祖庙路 建新路 同济路 城门头路 朝安路 亲仁路 "
    "公正路 卫国路 岭南大道北 岭南大道中 文华北路 文华中路 兆祥路 锦华路 魁奇一路",
    "石湾镇街道": "季华四路 季华五路 季华六路 岭南大道南 文华南路 绿景一路 绿景二路 "
    "魁奇二路 石湾公园路 太平路 和平路 东平路 雾岗路 澜石一路 江湾三路",
    "张槎街道": "张槎一路 张槎二路 张槎三路 张槎四路 季华一路 季华二路 古新路 江湾一路 "
    "大富北路 莲塘路 上朗大道",
    "南庄镇": "南庄大道 紫洞路 吉利大道 禅港路 湖涌路 溶洲大道 罗格大道 绿岛湖大道",
}
ROADS_BY_STREET = {street: _words(roads) for street, roads in _ROADS_BY_STREET_TEXT.items()}
STREETS = tuple(ROADS_BY_STREET)
ROADS = tuple(road for roads in ROADS_BY_STREET.values() for road in roads)
# Each street's rough extent (latitudes, longitudes) inside the district's, so that a
# row's point lies in the street its address names.
STREET_AREAS = {
    "祖庙街道": ((23.015, 23.060), (113.095, 113.140)),
    "石湾镇街道": ((22.965, 23.015), (113.085, 113.150)),
    "张槎街道": ((23.020, 23.080), (113.030, 113.095)),
    "南庄镇": ((22.960, 23.020), (113.020, 113.085)),
}
COMMUNITIES = _words(
    "祖庙街道升平社区 祖庙街道兆祥社区 祖庙街道普君社区 祖庙街道同济社区 祖庙街道岭南社区 "
    "祖庙街道朝安社区 祖庙街道亲仁社区 祖庙街道惠景社区 祖庙街道东华里社区 "
    "石湾镇街道澜石社区 石湾镇街道石湾社区 石湾镇街道深村社区 石湾镇街道东风社区 "
    "石湾镇街道小雾岗社区 石湾镇街道东鄱社区 石湾镇街道绿景社区 张槎街道大富社区 "
    "张槎街道大江社区 张槎街道莲塘社区 张槎街道上朗社区 张槎街道江湾社区 张槎街道村头社区 "
    "南庄镇罗格村 南庄镇吉利村 南庄镇紫南村 南庄镇溶洲村 南庄镇杏头村 南庄镇湖涌村 "
    "南庄镇南庄社区"
)
COMMUNITIES_BY_STREET = {
    street: tuple(community for community in COMMUNITIES if community.startswith(street))
    for street in STREETS
}
PLACE_NAMES = _words(
    "惠景 元甲 张槎 南庄 石湾 澜石 环湖 铁军 东鄱 深村 绿岛湖 朝东 同济 升平 兆祥 普君 "
    "亲仁 大富 江湾 罗格 紫南 吉利 溶洲 杏头 湖涌 莲塘 上朗 绿景 雾岗 亚艺"
)
_PLACES_BY_STREET_TEXT = {
    "祖庙街道": "惠景 元甲 环湖 朝东 同济 升平 兆祥 普君 亲仁 亚艺",
    "石湾镇街道": "石湾 澜石 铁军 东鄱 深村 绿景 雾岗",
    "张槎街道": "张槎 大富 江湾 莲塘 上朗",
    "南庄镇": "南庄 绿岛湖 罗格 紫南 吉利 溶洲 杏头 湖涌",
}
STREET_OF_PLACE = {
    place: street for street, places in _PLACES_BY_STREET_TEXT.items() for place in _words(places)
}
RIVERS = _words(
    "东平河 汾江河 佛山涌 潭洲水道 吉利涌 南庄涌 紫洞涌 罗格涌 石湾涌 澜石涌 张槎涌 "
    "大富涌 莲塘涌 上朗涌 江湾涌 东鄱涌"
)
# The district's hospitals and health centres, each with its kind and grade (医院等级).
HOSPITAL_KINDS_AND_GRADES = {
    "佛山市第一人民医院": ("综合医院", "三级甲等"),
    "佛山市中医院": ("中医医院", "三级甲等"),
    "佛山市妇幼保健院": ("专科医院", "三级甲等"),
    "佛山市第二人民医院": ("综合医院", "三级甲等"),
    "佛山市禅城区中心医院": ("综合医院", "三级甲等"),
    "佛山市禅城区人民医院": ("综合医院", "二级甲等"),
    "佛山市禅城区妇幼保健院": ("专科医院", "二级甲等"),
    "佛山市中医院禅城医院": ("中医医院", "二级甲等"),
    **{f"佛山市禅城区{street}社区卫生服务中心": ("社区卫生服务中心", "一级") for street in STREETS},
}
HOSPITALS = tuple(HOSPITAL_KINDS_AND_GRADES)
# Clinics are named by place and one of these endings, which says their kind.
CLINIC_KIND_OF_ENDING = {
    "门诊部": "门诊部",
    "综合门诊部": "门诊部",
    "中医门诊部": "门诊部",
    "口腔门诊部": "门诊部",
    "中医诊所": "诊所",
    "口腔诊所": "诊所",
    "社区诊所": "诊所",
    "康复医院": "康复医院",
    "护理院": "护理院",
    "医学检验实验室": "医学检验实验室",
}
CLINIC_KINDS = tuple(CLINIC_KIND_OF_ENDING)
COMMUNITY_STATION_KIND = "社区卫生服务站"
# Beds by grade or kind; a kind not listed has none.
BEDS_BY_GRADE_OR_KIND = {
    "三级甲等": (800, 1800),
    "二级甲等": (300, 700),
    "社区卫生服务中心": (20, 80),
    "康复医院": (50, 200),
    "护理院": (40, 160),
}
KINDERGARTEN_KINDS = _words("幼儿园 中心幼儿园 实验幼儿园 第二幼儿园 艺术幼儿园 双语幼儿园")
PARKS = _words(
    "中山公园 亚艺公园 佛山公园 季华公园 石湾公园 文华公园 绿岛湖湿地公园 东平河滨水公园 "
    "大富公园 紫南公园 王借岗森林公园 南风古灶 梁园 岭南天地"
)
INDUSTRIES = _words(
    "贸易 陶瓷 五金制品 科技 电子 服装 建材 餐饮管理 物流 信息技术 装饰工程 机械设备 "
    "医药 纺织 家具 不锈钢 文化传播 物业管理 新材料 模具 包装材料 环保科技 卫浴 照明电器"
)
PHARMACY_CHAINS = _words("大参林 老百姓大药房 国大药房 海王星辰 益丰大药房 采芝林")
ESTATE_KINDS = _words("花园 新村 小区 雅苑 华庭 名苑 豪庭 御府 花城 公馆 半岛 君悦")
PROJECT_KINDS = _words(
    "住宅小区项目 商业综合体项目 学校改扩建工程 厂房建设项目 道路改造工程 安置房项目 "
    "产业园项目 医院扩建工程 公园提升工程 城市更新单元项目 污水管网工程 人才公寓项目"
)
SOCIAL_ORG_DOMAINS = _words(
    "陶瓷行业 餐饮业 青少年发展 长者关爱 社区营造 书法 摄影 武术 醒狮 篮球 义工 家庭教育 "
    "粤剧 咏春拳 心理咨询 残疾人康复 环保 科普 民办教育 物业管理 五金行业 女企业家 "
    "电子商务 律师 慈善 社会工作 乡贤 龙舟 曲艺 青年创业"
)
SOCIAL_ORG_KINDS = _words("协会 商会 促进会 研究会 社会工作服务中心 服务中心")
HERITAGE_KINDS = _words("古庙 书院 古井 大宅 旧址 祖祠 关帝庙 天后宫 北帝庙 古码头 家塾 门楼")
PROCUREMENT_GOODS = _words(
    "校园安防设备 办公设备 物业管理服务 绿化养护服务 信息化系统建设 医疗设备 环卫保洁服务 "
    "食材配送服务 法律顾问服务 课桌椅 空调设备 公务用车 审计服务 监理服务"
)
SERVICE_ITEMS = _words(
    "就业登记 失业登记 居住证签注 食品经营许可 公共场所卫生许可 建筑工程施工许可证核发 "
    "医师执业注册 民办学校设立审批 户外广告设施设置审批 最低生活保障对象认定 高龄津贴申领 "
    "城乡居民养老保险参保登记 社会团体成立登记 殡葬补贴申领 出生医学证明签发 "
    "商品房预售许可 排污许可 建设项目环境影响评价审批 特种设备使用登记 药品零售企业许可 "
    "道路运输经营许可 城镇污水排入排水管网许可 临时救助 残疾人两项补贴申领 "
    "人力资源服务许可 劳务派遣经营许可 烟花爆竹零售经营许可 古树名木迁移审批 "
    "校外培训机构设立审批 律师执业许可"
)
SERVICE_ITEM_VARIANTS = ("新办", "变更", "延续", "注销", "补办", "撤回")
BUS_LINES = (
    tuple(f"{number}路" for number in range(101, 300))
    + tuple(f"K{number}路" for number in range(1, 31))
    + tuple(f"G{number}路" for number in range(1, 21))
)
MOBILE_PREFIXES = _words(
    "130 131 132 133 135 136 137 138 139 150 151 152 157 158 159 "
    "176 177 178 180 181 182 183 185 186 187 188 189 191 198 199"
)
