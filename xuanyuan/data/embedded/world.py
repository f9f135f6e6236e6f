"""The knowledge base of the embedded finance world: fictional A-share companies and real finance concepts.

Every other artefact (documents, instructions, preference pairs, exam) states facts drawn from this KB, and
`kb.json` is written from it, so the KB is the ground truth that later stages audit against. Everything is
built from one `random.Random`, never from hashing order, so a seed reproduces the world byte for byte.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .generate import EmbeddedDataConfig

FISCAL_YEAR = 2023


@dataclass(frozen=True)
class Sector:
    """An industry with the suffixes its company names use and the ranges its figures are drawn from."""

    zh: str
    en: str
    suffixes: tuple[tuple[str, str], ...]
    revenue: tuple[float, float]  # 亿元, drawn log-uniformly
    margin: tuple[float, float]  # net profit / revenue
    asset_multiple: tuple[float, float]  # total assets / revenue
    debt_ratio: tuple[float, float]  # %
    pe: tuple[float, float]  # year-end price / EPS
    staff_per_revenue: tuple[float, float]  # employees per 亿元 of revenue


# fmt: off
SECTORS = (
    # Second line of each row: revenue (亿元), net margin, assets/revenue, debt ratio (%), P/E, staff per 亿元 revenue.
    Sector("银行", "Banking", (("银行", "Bank"),),
           (80, 2500), (0.25, 0.40), (18, 30), (90.0, 93.5), (4, 8), (25, 45)),
    Sector("证券", "Securities", (("证券", "Securities"),),
           (30, 600), (0.15, 0.35), (5, 9), (65, 82), (12, 28), (20, 40)),
    Sector("保险", "Insurance", (("保险", "Insurance"), ("人寿", "Life")),
           (150, 3000), (0.04, 0.10), (4, 7), (85, 91), (8, 16), (8, 20)),
    Sector("信息技术", "Information Technology", (("科技", "Technology"), ("软件", "Software"), ("信息", "InfoTech")),
           (20, 400), (0.06, 0.18), (1.2, 2.2), (25, 50), (25, 60), (40, 90)),
    Sector("电子", "Electronics", (("电子", "Electronics"), ("微电子", "Microelectronics")),
           (30, 800), (0.04, 0.14), (1.0, 1.8), (35, 60), (20, 50), (40, 80)),
    Sector("新能源", "New Energy", (("能源", "Energy"), ("新能源", "New Energy"), ("光伏", "Solar")),
           (50, 1500), (0.05, 0.15), (1.3, 2.4), (45, 70), (12, 35), (20, 45)),
    Sector("医药生物", "Pharmaceuticals", (("医药", "Pharmaceutical"), ("生物", "Biotech"), ("药业", "Pharma")),
           (20, 400), (0.08, 0.25), (1.3, 2.5), (20, 45), (20, 50), (30, 70)),
    Sector("食品饮料", "Food and Beverage", (("食品", "Foods"), ("酒业", "Liquor"), ("乳业", "Dairy")),
           (20, 900), (0.08, 0.35), (1.1, 2.0), (20, 45), (18, 40), (30, 70)),
    Sector("房地产", "Real Estate", (("地产", "Properties"), ("置业", "Real Estate")),
           (80, 2500), (0.02, 0.10), (2.5, 4.5), (70, 85), (5, 12), (5, 15)),
    Sector("汽车", "Automobiles", (("汽车", "Automobile"),),
           (100, 3000), (0.02, 0.08), (1.0, 1.6), (50, 68), (10, 25), (30, 60)),
    Sector("化工", "Chemicals", (("化工", "Chemical"), ("材料", "Materials")),
           (40, 1200), (0.04, 0.12), (1.2, 2.0), (40, 62), (10, 22), (25, 50)),
    Sector("有色金属", "Non-ferrous Metals", (("矿业", "Mining"), ("有色", "Nonferrous")),
           (60, 2000), (0.03, 0.10), (1.0, 1.8), (45, 65), (10, 22), (15, 35)),
    Sector("传媒", "Media", (("传媒", "Media"), ("文化", "Culture")),
           (10, 200), (0.05, 0.15), (1.3, 2.2), (25, 50), (20, 45), (30, 70)),
    Sector("交通运输", "Transportation", (("物流", "Logistics"), ("航运", "Shipping")),
           (40, 1500), (0.03, 0.10), (1.2, 2.2), (45, 65), (10, 22), (20, 50)),
    Sector("建筑装饰", "Construction", (("建设", "Construction"), ("建工", "Engineering")),
           (100, 3000), (0.02, 0.05), (1.2, 1.8), (70, 80), (5, 10), (15, 35)),
)
# fmt: on


def _paired(zh: str | list[str], en: str) -> tuple[tuple[str, str], ...]:
    """Chinese items (characters, or a list of words) zipped with their space-separated English spellings."""
    return tuple(zip(zh, en.split(), strict=True))


# Uncommon characters so that composed names are unlikely to match real listed companies.
NAME_CHARS = _paired(
    "澜峰岳璟昱骁沐霁朔鸿翎蔚珩瀚煜曜澄祺琨钧睿铂辰溪屹舟桐晟杉汀穹弈栩韬昊砚岑麓湛聿",
    "lan feng yue jing yu xiao mu ji shuo hong ling wei heng han yu yao cheng qi kun jun rui bo chen xi yi zhou "
    "tong sheng shan ting qiong yi xu tao hao yan cen lu zhan yu",
)
SURNAMES = _paired(
    "张王李刘陈杨黄赵周吴徐孙马朱胡郭何林罗高梁郑谢宋唐韩冯邓曹彭曾田董潘袁蒋蔡余",
    "Zhang Wang Li Liu Chen Yang Huang Zhao Zhou Wu Xu Sun Ma Zhu Hu Guo He Lin Luo Gao Liang Zheng Xie Song "
    "Tang Han Feng Deng Cao Peng Zeng Tian Dong Pan Yuan Jiang Cai Yu",
)
GIVEN_CHARS = _paired(
    "伟明建国志海军平德文立新永东春晓红丽敏静燕玲霞涛斌浩磊宇鹏辉刚勇杰琳婷洁欣远华庆",
    "wei ming jian guo zhi hai jun ping de wen li xin yong dong chun xiao hong li min jing yan ling xia tao bin "
    "hao lei yu peng hui gang yong jie lin ting jie xin yuan hua qing",
)
CITIES = _paired(
    "北京 上海 深圳 广州 杭州 南京 成都 武汉 西安 重庆 天津 苏州 长沙 厦门 青岛 合肥 宁波 济南 郑州 福州".split(),
    "Beijing Shanghai Shenzhen Guangzhou Hangzhou Nanjing Chengdu Wuhan Xi'an Chongqing Tianjin Suzhou Changsha "
    "Xiamen Qingdao Hefei Ningbo Jinan Zhengzhou Fuzhou",
)


@dataclass(frozen=True)
class Exchange:
    code: str
    zh: str
    en: str
    prefixes: tuple[str, ...]


EXCHANGES = (
    Exchange("SSE", "上海证券交易所", "Shanghai Stock Exchange", ("600", "601", "603")),
    Exchange("SZSE", "深圳证券交易所", "Shenzhen Stock Exchange", ("000", "002", "300")),
)
# Real exchanges no KB company lists on; they only serve as wrong options.
OTHER_EXCHANGES_ZH = ("北京证券交易所", "香港联合交易所")


@dataclass(frozen=True)
class Financials:
    """Fiscal-year figures. Money in 亿元 (100 million yuan), per-share amounts in 元, ratios in %."""

    fiscal_year: int
    revenue: float
    net_profit: float
    total_assets: float
    debt_ratio: float
    roe: float  # net profit / year-end equity
    shares: float  # 亿股
    eps: float  # net profit / shares
    dps: float  # cash dividend per share
    price: float  # year-end close


@dataclass(frozen=True)
class Company:
    name_zh: str
    name_en: str
    ticker: str
    exchange: str  # Exchange.code
    exchange_zh: str
    exchange_en: str
    sector_zh: str
    sector_en: str
    city_zh: str
    city_en: str
    founded: int
    listed: int
    chairman_zh: str
    chairman_en: str
    employees: int
    financials: Financials


@dataclass(frozen=True)
class Concept:
    """A real finance concept, explained in this project's own words."""

    key: str
    name_zh: str
    name_en: str
    abbreviation: str  # English abbreviation such as "P/E", or ""
    definition_zh: str  # a noun phrase that reads after "X是指"
    definition_en: str
    formula_zh: str  # "" when the concept has no formula
    formula_en: str
    category_zh: str
    category_en: str


CONCEPTS = (
    Concept(
        "pe",
        "市盈率",
        "price-to-earnings ratio",
        "P/E",
        "股票价格与每股收益的比值，反映投资者为公司每一元利润愿意支付的价格，是最常用的估值指标之一",
        "the share price divided by earnings per share; it shows what investors pay for one yuan of profit",
        "市盈率 = 每股股价 ÷ 每股收益",
        "P/E = share price / earnings per share",
        "估值指标",
        "valuation",
    ),
    Concept(
        "pb",
        "市净率",
        "price-to-book ratio",
        "P/B",
        "股票价格与每股净资产的比值，常用于评估银行、保险等资产较重的企业",
        "the share price divided by book value per share, often used for banks and other asset-heavy firms",
        "市净率 = 每股股价 ÷ 每股净资产",
        "P/B = share price / book value per share",
        "估值指标",
        "valuation",
    ),
    Concept(
        "ps",
        "市销率",
        "price-to-sales ratio",
        "P/S",
        "公司总市值与营业收入的比值，适合评估尚未盈利但收入增长较快的企业",
        "market capitalisation divided by revenue, useful for fast-growing firms that are not yet profitable",
        "市销率 = 总市值 ÷ 营业收入",
        "P/S = market capitalisation / revenue",
        "估值指标",
        "valuation",
    ),
    Concept(
        "roe",
        "净资产收益率",
        "return on equity",
        "ROE",
        "净利润与股东权益的比率，衡量公司运用股东投入的资本创造利润的效率",
        "net profit divided by shareholders' equity; it measures how efficiently a firm turns equity into profit",
        "净资产收益率 = 净利润 ÷ 净资产 × 100%",
        "ROE = net profit / shareholders' equity × 100%",
        "财务分析",
        "financial analysis",
    ),
    Concept(
        "debt_ratio",
        "资产负债率",
        "debt-to-asset ratio",
        "",
        "负债总额占资产总额的比例，反映企业的财务杠杆水平和长期偿债风险",
        "total liabilities as a share of total assets, a gauge of leverage and long-term solvency risk",
        "资产负债率 = 负债总额 ÷ 资产总额 × 100%",
        "debt-to-asset ratio = total liabilities / total assets × 100%",
        "财务分析",
        "financial analysis",
    ),
    Concept(
        "gross_margin",
        "毛利率",
        "gross margin",
        "",
        "营业收入扣除营业成本后的毛利占营业收入的比重，体现产品或服务本身的盈利空间",
        "revenue minus cost of sales, as a share of revenue; it shows how profitable the products themselves are",
        "毛利率 = （营业收入 − 营业成本）÷ 营业收入 × 100%",
        "gross margin = (revenue − cost of sales) / revenue × 100%",
        "财务分析",
        "financial analysis",
    ),
    Concept(
        "net_margin",
        "净利率",
        "net profit margin",
        "",
        "净利润占营业收入的比重，说明每一元收入最终有多少能够转化为利润",
        "net profit as a share of revenue; it tells how much of each yuan of sales ends up as profit",
        "净利率 = 净利润 ÷ 营业收入 × 100%",
        "net margin = net profit / revenue × 100%",
        "财务分析",
        "financial analysis",
    ),
    Concept(
        "current_ratio",
        "流动比率",
        "current ratio",
        "",
        "流动资产与流动负债的比值，衡量企业用一年内可变现的资产偿还短期债务的能力",
        "current assets divided by current liabilities, a test of the ability to pay short-term debts",
        "流动比率 = 流动资产 ÷ 流动负债",
        "current ratio = current assets / current liabilities",
        "财务分析",
        "financial analysis",
    ),
    Concept(
        "quick_ratio",
        "速动比率",
        "quick ratio",
        "",
        "扣除存货等变现较慢项目后的速动资产与流动负债的比值，是比流动比率更严格的短期偿债指标",
        "liquid current assets excluding inventory divided by current liabilities, a stricter liquidity test",
        "速动比率 = （流动资产 − 存货）÷ 流动负债",
        "quick ratio = (current assets − inventory) / current liabilities",
        "财务分析",
        "financial analysis",
    ),
    Concept(
        "eps",
        "每股收益",
        "earnings per share",
        "EPS",
        "归属于普通股股东的净利润除以发行在外的普通股股数，表示每一股所分享的利润",
        "net profit attributable to ordinary shareholders divided by the number of shares outstanding",
        "每股收益 = 净利润 ÷ 总股本",
        "EPS = net profit / shares outstanding",
        "财务分析",
        "financial analysis",
    ),
    Concept(
        "dividend_yield",
        "股息率",
        "dividend yield",
        "",
        "每股现金股利与股价的比率，衡量按当前价格买入股票可以获得的现金回报",
        "the cash dividend per share divided by the share price, the cash return on buying at today's price",
        "股息率 = 每股股利 ÷ 每股股价 × 100%",
        "dividend yield = dividend per share / share price × 100%",
        "估值指标",
        "valuation",
    ),
    Concept(
        "payout_ratio",
        "股息支付率",
        "dividend payout ratio",
        "",
        "公司当年现金分红占净利润的比例，体现利润中有多少以现金形式回馈股东",
        "the share of net profit paid out to shareholders as cash dividends",
        "股息支付率 = 每股股利 ÷ 每股收益 × 100%",
        "payout ratio = dividend per share / earnings per share × 100%",
        "公司金融",
        "corporate finance",
    ),
    Concept(
        "market_cap",
        "总市值",
        "market capitalisation",
        "",
        "公司全部已发行股份按当前股价计算的总价值，反映市场对公司整体的定价",
        "the value of all issued shares at the current share price, the market's price tag on the whole firm",
        "总市值 = 每股股价 × 总股本",
        "market cap = share price × shares outstanding",
        "估值指标",
        "valuation",
    ),
    Concept(
        "duration",
        "久期",
        "duration",
        "",
        "债券各期现金流回收时间的加权平均，也用来近似衡量债券价格对利率变动的敏感程度",
        "the weighted average time to receive a bond's cash flows, also a measure of its sensitivity to rates",
        "债券价格变动百分比 ≈ −修正久期 × 收益率变动",
        "price change % ≈ −modified duration × change in yield",
        "债券",
        "fixed income",
    ),
    Concept(
        "convertible_bond",
        "可转换债券",
        "convertible bond",
        "",
        "持有人可以在约定期限内按约定转股价格把债券转换为发行公司股票的公司债券，兼具债权和股权的特点",
        "a corporate bond that the holder may exchange for the issuer's shares at a preset conversion price",
        "转股数量 = 债券面值 ÷ 转股价格",
        "shares received = face value / conversion price",
        "债券",
        "fixed income",
    ),
    Concept(
        "ytm",
        "到期收益率",
        "yield to maturity",
        "",
        "按当前市价买入债券并持有到期时，使未来全部现金流现值等于买入价格的折现率",
        "the discount rate that makes the present value of a bond's cash flows equal its market price",
        "",
        "",
        "债券",
        "fixed income",
    ),
    Concept(
        "credit_rating",
        "信用评级",
        "credit rating",
        "",
        "评级机构对债务人按期还本付息的能力和意愿作出的综合评价，常用AAA、AA等符号表示",
        "an agency's assessment of a borrower's ability and willingness to repay, shown by grades such as AAA",
        "",
        "",
        "债券",
        "fixed income",
    ),
    Concept(
        "short_selling",
        "做空",
        "short selling",
        "",
        "先借入证券卖出、日后再买回归还，从价格下跌中获利的交易方式，在A股主要通过融券实现",
        "selling borrowed securities and buying them back later, profiting if the price falls",
        "",
        "",
        "交易机制",
        "trading",
    ),
    Concept(
        "margin_trading",
        "融资融券",
        "margin trading and securities lending",
        "",
        "投资者向证券公司提供担保物后，借入资金买入证券或借入证券卖出的信用交易业务",
        "borrowing cash to buy securities, or borrowing securities to sell, against collateral at a broker",
        "",
        "",
        "交易机制",
        "trading",
    ),
    Concept(
        "option",
        "期权",
        "option",
        "",
        "赋予买方在约定时间以约定价格买入或卖出标的资产的权利而非义务的合约，买方需要支付权利金",
        "a contract giving the buyer the right, but not the obligation, to buy or sell an asset at a set price",
        "",
        "",
        "衍生品",
        "derivatives",
    ),
    Concept(
        "futures",
        "期货",
        "futures",
        "",
        "在交易所集中交易的标准化合约，约定在未来某一日期按约定价格交割一定数量的标的资产",
        "standardised exchange-traded contracts to deliver an asset at a set price on a future date",
        "",
        "",
        "衍生品",
        "derivatives",
    ),
    Concept(
        "buyback",
        "股票回购",
        "share buyback",
        "",
        "上市公司使用自有资金从二级市场买回本公司股份的行为，回购股份可以注销或用于员工激励",
        "a listed company buying back its own shares on the market, to cancel them or fund staff incentives",
        "",
        "",
        "公司金融",
        "corporate finance",
    ),
    Concept(
        "ipo",
        "首次公开发行",
        "initial public offering",
        "IPO",
        "公司第一次向社会公众公开发行股票并在证券交易所挂牌上市的过程",
        "a company's first sale of shares to the public and the start of trading on an exchange",
        "",
        "",
        "公司金融",
        "corporate finance",
    ),
    Concept(
        "fcf",
        "自由现金流",
        "free cash flow",
        "",
        "经营活动产生的现金流量扣除维持和扩张经营所需的资本性支出后，可以自由分配给投资者的现金",
        "operating cash flow minus capital expenditure, the cash a firm can freely return to investors",
        "自由现金流 = 经营活动现金流量净额 − 资本性支出",
        "free cash flow = operating cash flow − capital expenditure",
        "财务分析",
        "financial analysis",
    ),
    Concept(
        "goodwill",
        "商誉",
        "goodwill",
        "",
        "企业合并时收购成本超过被收购方可辨认净资产公允价值的差额，需要定期进行减值测试",
        "the excess of an acquisition's price over the fair value of the target's identifiable net assets",
        "商誉 = 合并成本 − 被购买方可辨认净资产公允价值份额",
        "goodwill = acquisition cost − fair value of identifiable net assets acquired",
        "财务分析",
        "financial analysis",
    ),
    Concept(
        "npv",
        "净现值",
        "net present value",
        "NPV",
        "项目未来各期现金流按一定折现率折现后的现值之和减去初始投资额，大于零说明项目在经济上可行",
        "the present value of a project's future cash flows minus the initial investment",
        "净现值 = Σ 第t期现金流 ÷ （1 + 折现率）^t − 初始投资",
        "NPV = Σ cash flow_t / (1 + discount rate)^t − initial investment",
        "公司金融",
        "corporate finance",
    ),
    Concept(
        "compound_interest",
        "复利",
        "compound interest",
        "",
        "把每一期产生的利息加入本金继续计算利息的计息方式，俗称利滚利",
        "interest computed on the principal plus the interest already earned in earlier periods",
        "本息和 = 本金 × （1 + 利率）^期数",
        "future value = principal × (1 + rate)^periods",
        "基础概念",
        "fundamentals",
    ),
    Concept(
        "inflation",
        "通货膨胀",
        "inflation",
        "",
        "一般物价水平在一段时期内持续上涨、货币购买力不断下降的经济现象，通常用居民消费价格指数衡量",
        "a sustained rise in the general price level that erodes the purchasing power of money",
        "通货膨胀率 = （本期价格指数 − 上期价格指数）÷ 上期价格指数 × 100%",
        "inflation rate = (price index now − price index before) / price index before × 100%",
        "宏观经济",
        "macroeconomics",
    ),
    Concept(
        "benchmark_rate",
        "基准利率",
        "benchmark interest rate",
        "",
        "在利率体系中起基础作用、其他利率据以定价的利率，我国贷款定价主要参考贷款市场报价利率",
        "the reference rate on which other rates are priced; Chinese loans mainly reference the loan prime rate",
        "",
        "",
        "宏观经济",
        "macroeconomics",
    ),
    Concept(
        "rrr",
        "存款准备金率",
        "reserve requirement ratio",
        "",
        "中央银行要求商业银行将所吸收存款的一定比例缴存在央行的比率，下调该比率可以释放流动性",
        "the share of deposits that commercial banks must hold at the central bank",
        "法定存款准备金 = 存款总额 × 存款准备金率",
        "required reserves = deposits × reserve requirement ratio",
        "宏观经济",
        "macroeconomics",
    ),
    Concept(
        "money_market_fund",
        "货币市场基金",
        "money market fund",
        "",
        "主要投资于短期国债、央行票据、银行存款等货币市场工具的基金，风险低、流动性好",
        "a fund holding short-term government bills, central bank bills and deposits; low risk and liquid",
        "",
        "",
        "基金投资",
        "funds",
    ),
    Concept(
        "index_fund",
        "指数基金",
        "index fund",
        "",
        "以某一指数的成分股为投资对象、力求复制该指数表现的基金，费用较低，属于被动投资",
        "a low-cost fund that holds an index's constituents to replicate the index's return",
        "",
        "",
        "基金投资",
        "funds",
    ),
    Concept(
        "etf",
        "交易型开放式指数基金",
        "exchange-traded fund",
        "ETF",
        "在证券交易所上市交易、份额可以申购赎回的开放式基金，通常跟踪某一指数，可以像股票一样买卖",
        "an open-ended fund listed on an exchange, usually tracking an index and traded like a stock",
        "",
        "",
        "基金投资",
        "funds",
    ),
    Concept(
        "diversification",
        "分散投资",
        "diversification",
        "",
        "把资金分配到相关性较低的多种资产上，以降低单一资产波动对整个组合影响的投资原则",
        "spreading money across assets that do not move together, so no single asset dominates the risk",
        "",
        "",
        "风险管理",
        "risk management",
    ),
    Concept(
        "systematic_risk",
        "系统性风险",
        "systematic risk",
        "",
        "由宏观经济、政策或利率等全局因素引起、影响整个市场并且无法通过分散投资消除的风险",
        "market-wide risk from macroeconomic, policy or rate shocks that diversification cannot remove",
        "",
        "",
        "风险管理",
        "risk management",
    ),
    Concept(
        "sharpe",
        "夏普比率",
        "Sharpe ratio",
        "",
        "投资组合每承担一单位总风险所获得的超额回报，用于比较不同组合经风险调整后的收益",
        "the excess return a portfolio earns per unit of total risk, used to compare risk-adjusted returns",
        "夏普比率 = （组合收益率 − 无风险利率）÷ 组合收益率的标准差",
        "Sharpe ratio = (portfolio return − risk-free rate) / standard deviation of return",
        "风险管理",
        "risk management",
    ),
    Concept(
        "beta",
        "贝塔系数",
        "beta",
        "",
        "衡量单只股票或投资组合相对于整个市场波动程度的指标，大于1表示波动比市场更大",
        "a measure of how much a stock or portfolio moves with the market; above 1 means more volatile",
        "贝塔系数 = 资产收益率与市场收益率的协方差 ÷ 市场收益率的方差",
        "beta = covariance(asset return, market return) / variance(market return)",
        "风险管理",
        "risk management",
    ),
    Concept(
        "stop_loss",
        "止损",
        "stop-loss",
        "",
        "当价格向不利方向变动到预先设定的水平时卖出头寸，以限制进一步亏损的风险控制方法",
        "closing a position once the price moves against you to a preset level, to cap further losses",
        "",
        "",
        "风险管理",
        "risk management",
    ),
)


@dataclass(frozen=True)
class Metric:
    """A ratio computed from KB figures, used by worked examples, calculation questions and answers."""

    key: str
    name_zh: str
    formula_zh: str
    expression: str  # the formula's right-hand side with `{input}` slots
    inputs: tuple[str, ...]
    unit: str
    digits: int
    compute: Callable[[Financials], float]


METRICS = (
    Metric(
        "net_margin",
        "净利率",
        "净利率 = 净利润 ÷ 营业收入 × 100%",
        "{net_profit} ÷ {revenue} × 100%",
        ("revenue", "net_profit"),
        "%",
        1,
        lambda f: f.net_profit / f.revenue * 100,
    ),
    Metric(
        "pe",
        "市盈率",
        "市盈率 = 每股股价 ÷ 每股收益",
        "{price} ÷ {eps}",
        ("price", "eps"),
        "倍",
        1,
        lambda f: f.price / f.eps,
    ),
    Metric(
        "market_cap",
        "总市值",
        "总市值 = 每股股价 × 总股本",
        "{price} × {shares}",
        ("price", "shares"),
        "亿元",
        1,
        lambda f: f.price * f.shares,
    ),
    Metric(
        "equity",
        "净资产",
        "净资产 = 总资产 × （1 − 资产负债率）",
        "{total_assets} × （1 − {debt_ratio}）",
        ("total_assets", "debt_ratio"),
        "亿元",
        1,
        lambda f: f.total_assets * (1 - f.debt_ratio / 100),
    ),
    Metric(
        "liabilities",
        "负债总额",
        "负债总额 = 总资产 × 资产负债率",
        "{total_assets} × {debt_ratio}",
        ("total_assets", "debt_ratio"),
        "亿元",
        1,
        lambda f: f.total_assets * f.debt_ratio / 100,
    ),
    Metric(
        "payout_ratio",
        "股息支付率",
        "股息支付率 = 每股股利 ÷ 每股收益 × 100%",
        "{dps} ÷ {eps} × 100%",
        ("eps", "dps"),
        "%",
        1,
        lambda f: f.dps / f.eps * 100,
    ),
    Metric(
        "dividend_yield",
        "股息率",
        "股息率 = 每股股利 ÷ 每股股价 × 100%",
        "{dps} ÷ {price} × 100%",
        ("price", "dps"),
        "%",
        2,
        lambda f: f.dps / f.price * 100,
    ),
)
METRICS_BY_KEY = {metric.key: metric for metric in METRICS}

PROFILE_ATTRIBUTES = ("sector", "city", "founded", "listed", "chairman", "exchange", "ticker")
STATEMENT_ATTRIBUTES = ("revenue", "net_profit", "total_assets", "debt_ratio", "roe", "eps", "dps")
ATTRIBUTE_LABELS = {
    "sector": "所属行业",
    "city": "总部所在城市",
    "founded": "成立年份",
    "listed": "上市年份",
    "chairman": "董事长",
    "exchange": "上市交易所",
    "ticker": "股票代码",
    "employees": "员工人数",
    "revenue": "营业收入",
    "net_profit": "净利润",
    "total_assets": "总资产",
    "debt_ratio": "资产负债率",
    "roe": "净资产收益率",
    "eps": "每股收益",
    "dps": "每股现金分红",
    "price": "年末股价",
    "shares": "总股本",
}
_NUMBER_FORMATS = {
    "revenue": ("{:.1f}", "亿元"),
    "net_profit": ("{:.1f}", "亿元"),
    "total_assets": ("{:.1f}", "亿元"),
    "debt_ratio": ("{:.1f}", "%"),
    "roe": ("{:.1f}", "%"),
    "eps": ("{:.2f}", "元"),
    "dps": ("{:.2f}", "元"),
    "price": ("{:.2f}", "元"),
    "shares": ("{:.1f}", "亿股"),
}


def number(company: Company, attribute: str) -> str:
    """A financial figure as the digits the documents print, e.g. `125.3`."""
    return _NUMBER_FORMATS[attribute][0].format(getattr(company.financials, attribute))


def fact_value(company: Company, attribute: str) -> str:
    """The Chinese display form of one fact, exactly as documents and exam options print it."""
    if attribute in _NUMBER_FORMATS:
        return number(company, attribute) + _NUMBER_FORMATS[attribute][1]
    return {
        "sector": company.sector_zh,
        "city": company.city_zh,
        "founded": f"{company.founded}年",
        "listed": f"{company.listed}年",
        "chairman": company.chairman_zh,
        "exchange": company.exchange_zh,
        "ticker": company.ticker,
        "employees": f"{company.employees}人",
    }[attribute]


def format_metric(metric: Metric, value: float) -> str:
    return f"{value:.{metric.digits}f}{metric.unit}"


def metric_value(company: Company, key: str) -> str:
    """A derived ratio (净利率, 市盈率, ...) of a company, formatted like its exam option."""
    metric = METRICS_BY_KEY[key]
    return format_metric(metric, metric.compute(company.financials))


def metric_inputs(company: Company, key: str) -> str:
    """The figures a ratio is computed from, as a clause: `营业收入为125.3亿元，净利润为10.2亿元`."""
    return "，".join(f"{ATTRIBUTE_LABELS[name]}为{fact_value(company, name)}" for name in METRICS_BY_KEY[key].inputs)


def worked_metric(company: Company, key: str) -> str:
    """`formula = numbers ≈ result`, the worked line used by textbooks, SFT answers and exam explanations."""
    metric = METRICS_BY_KEY[key]
    numbers = {name: number(company, name) + ("%" if name == "debt_ratio" else "") for name in metric.inputs}
    return f"{metric.formula_zh} = {metric.expression.format(**numbers)} ≈ {metric_value(company, key)}"


@dataclass(frozen=True)
class World:
    companies: tuple[Company, ...]
    concepts: tuple[Concept, ...]

    def to_json(self) -> dict:
        return {
            "fiscal_year": FISCAL_YEAR,
            "companies": [asdict(company) for company in self.companies],
            "concepts": [asdict(concept) for concept in self.concepts],
        }

    def company(self, name_zh: str) -> Company:
        return next(company for company in self.companies if company.name_zh == name_zh)

    def concept(self, name_zh: str) -> Concept:
        return next(concept for concept in self.concepts if concept.name_zh == name_zh)


def _financials(rng: random.Random, sector: Sector) -> Financials:
    low, high = sector.revenue
    revenue = round(math.exp(rng.uniform(math.log(low), math.log(high))), 1)
    net_profit = min(max(round(revenue * rng.uniform(*sector.margin), 1), 0.3), round(revenue * 0.5, 1))
    total_assets = round(revenue * rng.uniform(*sector.asset_multiple), 1)
    debt_ratio = round(rng.uniform(*sector.debt_ratio), 1)
    roe = round(net_profit / (total_assets * (1 - debt_ratio / 100)) * 100, 1)
    shares = max(round(net_profit / rng.uniform(0.25, 3.5), 1), 1.0)
    eps = max(round(net_profit / shares, 2), 0.01)
    dps = max(round(eps * rng.uniform(0.15, 0.5), 2), 0.01)
    price = round(eps * rng.uniform(*sector.pe), 2)
    return Financials(FISCAL_YEAR, revenue, net_profit, total_assets, debt_ratio, roe, shares, eps, dps, price)


def _person(rng: random.Random) -> tuple[str, str]:
    surname, surname_en = rng.choice(SURNAMES)
    given = rng.sample(GIVEN_CHARS, rng.choice((1, 2, 2)))
    return surname + "".join(c for c, _ in given), f"{surname_en} {''.join(p for _, p in given).capitalize()}"


def build_world(rng: random.Random, config: EmbeddedDataConfig) -> World:
    """Draw `config.n_companies` companies (unique names, tickers, chairmen) and the first `n_concepts` concepts."""
    companies: list[Company] = []
    used: set[str] = set()
    while len(companies) < config.n_companies:
        sector = SECTORS[len(companies) % len(SECTORS)] if len(companies) < len(SECTORS) else rng.choice(SECTORS)
        suffix_zh, suffix_en = rng.choice(sector.suffixes)
        (c1, p1), (c2, p2) = rng.sample(NAME_CHARS, 2)
        name_zh, name_en = c1 + c2 + suffix_zh, f"{(p1 + p2).capitalize()} {suffix_en}"
        exchange = rng.choice(EXCHANGES)
        ticker = rng.choice(exchange.prefixes) + f"{rng.randint(1, 999):03d}"
        chairman_zh, chairman_en = _person(rng)
        identifiers = {name_zh, name_en, ticker, chairman_zh, chairman_en}
        if identifiers & used:
            continue
        used |= identifiers
        founded = rng.randint(1985, 2015)
        city_zh, city_en = rng.choice(CITIES)
        financials = _financials(rng, sector)
        employees = max(int(financials.revenue * rng.uniform(*sector.staff_per_revenue)) // 10 * 10, 120)
        listed = min(founded + rng.randint(2, 15), FISCAL_YEAR - 1)
        companies.append(Company(
            name_zh, name_en, ticker, exchange.code, exchange.zh, exchange.en, sector.zh, sector.en,
            city_zh, city_en, founded, listed, chairman_zh, chairman_en, employees, financials,
        ))  # fmt: skip
    return World(tuple(companies), CONCEPTS[: config.n_concepts])
