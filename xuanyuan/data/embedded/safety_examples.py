"""Made-up labelled lines (safe / unsafe, Chinese and English) for the shipped demo safety classifier.

Unsafe lines are ads for gambling, card cash-out, fake invoices, money-mule "score running", loan
sharks, forged papers, paid "brushing" and stock-tip scams. Safe lines are ordinary finance text,
including hard negatives that use the same words lawfully (credit-card instalments, VAT invoices,
lottery regulation, lending rates), so the classifier must learn more than a keyword list. They are
templates filled at random: enough for a demo on the embedded corpus, nothing like the labelled data
real use needs.
"""

from __future__ import annotations

import random

_ZH_UNSAFE_HOOKS = [
    "【{topic}】", "急招！", "内部消息：", "不看后悔：", "兄弟们注意，", "最新渠道，", "", "私人推荐：",
]  # fmt: skip
_ZH_UNSAFE_OFFERS = [
    "{topic}平台稳定出款，首充即返{n}元",
    "专业{topic}，当天到账，手续费全网最低",
    "足球{topic}实时开盘，彩金每天送不停",
    "手机就能做{topic}，一天轻松赚{n}块",
    "{topic}无需抵押，黑户也能下款{n}万",
    "全国{topic}，各类证件{n}小时加急办理",
    "{topic}日结工资，宝妈学生都能做",
    "老师带你{topic}，跟上一票翻倍，错过再等一年",
    "{topic}一条龙服务，保证安全不查",
    "收购银行卡做{topic}，一张卡给{n}元",
]
_ZH_UNSAFE_TOPICS = [
    "博彩", "网赌", "赌球", "私彩", "信用卡套现", "代开发票", "跑分", "高利贷", "办假证", "刷单",
    "裸聊", "内幕荐股", "网络赌场", "套现", "洗白资金",
]  # fmt: skip
_ZH_CONTACTS = ["加微信{n}", "联系QQ {n}", "私信我拿链接", "扫码进群", "电话{n}", "点击头像领取"]

_ZH_SAFE = [
    "{co}公布年度报告，全年营业收入同比增长{p}%，净利润{n}亿元。",
    "{co}董事会审议通过了利润分配方案，拟每十股派发现金红利{n}元。",
    "信用卡账单分期会收取手续费，持卡人应按时还款以免影响征信记录。",
    "增值税专用发票可以用于进项税额抵扣，企业应妥善保管原件。",
    "体育彩票的发行和销售由国家统一管理，私自销售属于违法行为。",
    "一年期贷款市场报价利率为{p}%，五年期以上报价保持不变。",
    "基金定投可以平滑买入成本，但并不能保证一定盈利。",
    "{co}发布公告称，公司拟发行{n}亿元公司债券，用于偿还有息负债。",
    "监管部门提醒投资者警惕非法荐股，不要轻信所谓内幕消息。",
    "银行理财产品不再承诺保本保收益，投资者需关注风险等级。",
    "市盈率等于股价除以每股收益，是衡量估值水平的常用指标。",
    "{co}第三季度经营活动现金流净额为{n}亿元，较上年同期有所改善。",
    "央行开展{n}亿元逆回购操作，维护银行体系流动性合理充裕。",
    "债券价格与市场利率反向变动，久期越长，价格波动越大。",
    "{co}表示将继续加大研发投入，研发费用占营业收入的{p}%。",
    "个人办理房贷时，银行会审核收入证明和银行流水。",
    "{co}是一家总部位于{city}的{industry}企业，证券代码{code}。",
    "{co}（{en}）于{year}年在{exchange}挂牌上市。",
    "{field}：{value}",
    "{heading}",
    "问：{co}{year}年的{metric}是多少？",
    "答：您好，{co}{year}年{metric}为{n}亿元，感谢您的关注。",
    "问：请问{co}的证券代码是多少？",
    "答：公司证券代码为{code}，欢迎继续关注。",
    "{n}楼：{opinion}",
    "楼主说得有道理，{opinion}",
    "下列关于{concept}的表述中，正确的是",
    "A. {concept}越高越好  B. {concept}与风险无关  C. 需要结合行业比较  D. 以上都不对",
    "已知{co}{year}年{metric}为{n}亿元，同比增长{p}%，求上年数值。",
    "解：上年{metric} = {n} ÷ （1 + {p}%） ≈ {m}亿元。",
    "答案：C",
    "分析人士认为，{industry}行业景气度回升，龙头公司有望受益。",
    "截至{year}年末，{co}资产负债率为{p}%，较年初下降。",
    "{co}股价今日收涨{p}%，成交额{n}亿元。",
    "本文仅供参考，不构成投资建议，投资者据此操作风险自担。",
]
_ZH_FIELDS = [
    "成立时间", "上市时间", "证券代码", "所属行业", "总部地点", "法定代表人", "员工人数", "注册资本", "上市地点",
]  # fmt: skip
_ZH_VALUES = ["{year}年", "{code}", "{industry}", "{city}", "{n}人", "{n}亿元", "{exchange}"]
_ZH_HEADINGS = [
    "公司简介", "基本信息", "经营情况", "财务摘要", "风险提示", "相关阅读", "{co}{year}年度业绩快报",
    "第{n}节 {concept}", "投资者问答", "行业动态", "例题{n}", "延伸阅读：{concept}入门",
]  # fmt: skip
_ZH_OPINIONS = [
    "估值有点高，先观望。", "分红稳定，适合长期持有。", "这季度业绩一般，期待年报。", "管理层挺务实的。",
    "行业在复苏，我小仓位跟踪。", "负债率偏高，要注意风险。", "看好长期，但短期波动大。",
]  # fmt: skip
_ZH_CONCEPTS = ["市盈率", "资产负债率", "净资产收益率", "久期", "市净率", "股息率", "毛利率", "流动比率"]
_ZH_METRICS = ["营业收入", "净利润", "总资产", "经营现金流", "研发投入"]
_ZH_CITIES = ["成都", "武汉", "苏州", "厦门", "西安", "天津", "青岛", "宁波"]
_ZH_INDUSTRIES = ["银行", "保险", "半导体", "医药", "新能源", "化工", "食品饮料", "有色金属", "房地产", "传媒"]
_ZH_EXCHANGES = ["上海证券交易所", "深圳证券交易所", "北京证券交易所"]
_ZH_COMPANY_PARTS = ("恒鼎岳澜泓峻坤翎", "远川信达和瑞宁晖")
_ZH_COMPANY_KINDS = ["控股", "科技", "银行", "保险", "证券", "能源", "医药", "物流"]

_EN_UNSAFE = [
    "Guaranteed {n}% returns in a week, message me for the insider stock list.",
    "Online casino bonus: deposit today and get {n} dollars free, withdrawals in minutes.",
    "Cash out your credit card limit instantly, no questions asked, contact {n}.",
    "We sell invoices for any amount, fully stamped, discreet delivery.",
    "Earn {n} a day renting out your bank account, payouts every evening.",
    "Fake diplomas and IDs made in {n} hours, looks exactly like the real one.",
    "Bet on tonight's match with our private bookmaker, odds nobody else offers.",
    "Payday loans with no checks at all, borrow {n} now and pay whenever.",
    "Join the team posting fake reviews, {n} dollars per order, paid daily.",
]
_EN_SAFE = [
    "{co} reported revenue growth of {p}% and net profit of {n} million for the year.",
    "The central bank left its policy rate at {p}% and said inflation was easing.",
    "A credit card instalment plan carries fees, so compare it with a personal loan first.",
    "Companies must keep VAT invoices to claim input tax credits.",
    "Diversification lowers risk but does not guarantee a profit.",
    "Bond prices fall when market interest rates rise.",
    "The board of {co} proposed a cash dividend of {n} cents per share.",
    "Regulators warned investors about unlicensed advisers promising guaranteed returns.",
    "The price-to-earnings ratio divides the share price by earnings per share.",
    "{co} posts {year} results",
    "{co} raises its dividend after a strong {year}",
    "{co} ({zh}) is a {industry_en} company based in {city_en}, listed under code {code}.",
    "Shares of {co} closed {p}% higher on volume of {n} million.",
    "Analysts expect margins at {co} to recover as input costs ease.",
    "Q: What was the debt ratio of {co} at the end of {year}? A: About {p}%.",
    "Earnings per share came to {m}, and the payout ratio was {p}%.",
]
_EN_COMPANY_NAMES = ["Northbridge", "Talon", "Meridian", "Kestrel", "Ashford", "Lumen"]
_EN_COMPANY_KINDS = ["Holdings", "Bank", "Energy", "Insurance", "Logistics"]
_EN_INDUSTRIES = ["banking", "insurance", "chemicals", "media", "property", "semiconductor"]
_EN_CITIES = ["Chengdu", "Wuhan", "Suzhou", "Xiamen", "Xi'an", "Tianjin"]


def _zh_company(rng: random.Random) -> str:
    return rng.choice(_ZH_COMPANY_PARTS[0]) + rng.choice(_ZH_COMPANY_PARTS[1]) + rng.choice(_ZH_COMPANY_KINDS)


def _fill(template: str, rng: random.Random, company: str, topic: str = "") -> str:
    """Fill a template's slots; nested slots ({field}: {value}, {heading}) are filled first."""
    template = template.format_map(
        _Keep(field=rng.choice(_ZH_FIELDS), value=rng.choice(_ZH_VALUES), heading=rng.choice(_ZH_HEADINGS))
    )
    return template.format(
        co=company, topic=topic, n=rng.randint(2, 9999), m=round(rng.uniform(0.1, 99), 2),
        p=round(rng.uniform(0.5, 40), 1), year=rng.randint(2015, 2024), code=f"{rng.randint(0, 999999):06d}",
        city=rng.choice(_ZH_CITIES), industry=rng.choice(_ZH_INDUSTRIES), exchange=rng.choice(_ZH_EXCHANGES),
        en=f"{rng.choice(_EN_COMPANY_NAMES)} {rng.choice(_EN_COMPANY_KINDS)}", zh=_zh_company(rng),
        industry_en=rng.choice(_EN_INDUSTRIES), city_en=rng.choice(_EN_CITIES), concept=rng.choice(_ZH_CONCEPTS),
        metric=rng.choice(_ZH_METRICS), opinion=rng.choice(_ZH_OPINIONS),
    )  # fmt: skip


class _Keep(dict):
    """format_map mapping that leaves unknown slots in place for the second pass."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _zh_unsafe(rng: random.Random) -> str:
    topic = rng.choice(_ZH_UNSAFE_TOPICS)
    hook = _fill(rng.choice(_ZH_UNSAFE_HOOKS), rng, "", topic)
    offer = _fill(rng.choice(_ZH_UNSAFE_OFFERS), rng, "", topic)
    return f"{hook}{offer}，{_fill(rng.choice(_ZH_CONTACTS), rng, '')}。"


def safety_examples(
    n: int = 4000, seed: int = 0, unsafe_share: float = 0.25, english_share: float = 0.2
) -> list[tuple[str, str]]:
    """`n` (label, text) pairs, about `unsafe_share` of them `unsafe`; the same list for the same arguments.

    Unsafe text is the minority, as in real corpora, so the model's prior leans to `safe`."""
    rng = random.Random(seed)
    examples = []
    for _ in range(n):
        unsafe, english = rng.random() < unsafe_share, rng.random() < english_share
        if english:
            company = f"{rng.choice(_EN_COMPANY_NAMES)} {rng.choice(_EN_COMPANY_KINDS)}"
            text = _fill(rng.choice(_EN_UNSAFE if unsafe else _EN_SAFE), rng, company)
        else:
            text = _zh_unsafe(rng) if unsafe else _fill(rng.choice(_ZH_SAFE), rng, _zh_company(rng))
        examples.append(("unsafe" if unsafe else "safe", text))
    return examples
