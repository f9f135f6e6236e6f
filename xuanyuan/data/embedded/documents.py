"""Pretraining documents of the embedded world: clean prose in six styles, exercise sheets, planted defects.

Every company fact is stated in many documents with different phrasings, because repetition is what lets a
tiny model memorise it on CPU. Exercise sheets drill the C-Eval question format on exercise facts only.
Defects (traditional script, ASCII punctuation, symbol runs, stray whitespace, duplicates, spam, noise,
figure-only variants) are planted on purpose and listed, so the cleaning stage can be scored for precision
and recall. Held-out documents come from the same generators and never appear in the raw corpus.
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import opencc

from .exam import SUBJECTS, ExamPlan, Fact, exam_header, format_question, make_question
from .world import (
    ATTRIBUTE_LABELS,
    FISCAL_YEAR,
    METRICS,
    METRICS_BY_KEY,
    PROFILE_ATTRIBUTES,
    STATEMENT_ATTRIBUTES,
    Company,
    Concept,
    World,
    fact_value,
    metric_inputs,
    metric_value,
    number,
    worked_metric,
)

if TYPE_CHECKING:
    from .generate import EmbeddedDataConfig

# The keyword filter's list ships with the package (`keyword_file: embedded`), so the tiny data.yaml runs alone.
KEYWORD_FILE = Path(__file__).resolve().parents[2] / "resources" / "bad_keywords.txt"
BAD_KEYWORDS = tuple(line for line in KEYWORD_FILE.read_text(encoding="utf-8").splitlines() if line and line[0] != "#")


@dataclass
class Document:
    text: str
    lang: str
    domain: str
    protected: bool = False  # full profiles and exercise sheets never receive in-place defects
    facts: tuple[Fact, ...] = ()  # exercise facts drilled by an exercise sheet
    id: str = ""


@dataclass
class Corpus:
    raw: list[Document]
    planted: list[dict]
    heldout: list[Document]


# --- facts in prose -------------------------------------------------------------------------------------

_FACT_PHRASES = {
    "sector": (
        "{name}是一家{sector}行业的上市公司。",
        "{name}所属行业为{sector}。",
        "从行业分类来看，{name}归属于{sector}板块。",
        "{name}的主营业务集中在{sector}领域。",
        "作为{sector}行业的上市企业，{name}的经营情况一直受到投资者关注。",
    ),
    "city": (
        "{name}总部位于{city}。",
        "{name}的总部设在{city}。",
        "{name}是一家总部在{city}的企业。",
        "{name}的注册地和总部均在{city}。",
    ),
    "founded": (
        "{name}成立于{founded}。",
        "{name}创立于{founded}。",
        "自{founded}成立以来，{name}已经走过了{age}年的发展历程。",
        "{name}的成立时间是{founded}。",
    ),
    "listed": (
        "{name}于{listed}在{exchange}上市。",
        "{listed}，{name}的股票在{exchange}挂牌上市。",
        "{name}的上市时间为{listed}，上市地点是{exchange}。",
    ),
    "exchange": ("{name}的股票在{exchange}交易。", "{name}是{exchange}的上市公司。"),
    "ticker": (
        "{name}的股票代码是{ticker}。",
        "{name}的A股代码为{ticker}。",
        "投资者可以通过股票代码{ticker}查询{name}的行情。",
    ),
    "chairman": (
        "{name}现任董事长为{chairman}。",
        "{chairman}担任{name}董事长。",
        "{name}的董事长是{chairman}。",
        "在董事长{chairman}的带领下，{name}持续推进业务转型。",
    ),
    "employees": ("截至2023年末，{name}共有员工{employees}。", "{name}在职员工总数为{employees}。"),
    "revenue": (
        "2023年，{name}实现营业收入{revenue}。",
        "{name}2023年营业收入为{revenue}。",
        "{name}2023年全年营收达到{revenue}。",
        "按年报口径，{name}2023年的营业收入是{revenue}。",
    ),
    "net_profit": (
        "2023年，{name}实现净利润{net_profit}。",
        "{name}2023年净利润为{net_profit}。",
        "{name}2023年全年录得净利润{net_profit}。",
    ),
    "total_assets": (
        "截至2023年末，{name}总资产为{total_assets}。",
        "{name}2023年末资产总额达到{total_assets}。",
        "{name}2023年末的总资产规模为{total_assets}。",
    ),
    "debt_ratio": (
        "{name}2023年末的资产负债率为{debt_ratio}。",
        "截至2023年末，{name}资产负债率为{debt_ratio}。",
        "{name}2023年末资产负债率是{debt_ratio}。",
    ),
    "roe": (
        "{name}2023年的净资产收益率（ROE）为{roe}。",
        "{name}2023年ROE为{roe}。",
        "衡量盈利能力的净资产收益率方面，{name}2023年达到{roe}。",
    ),
    "eps": ("{name}2023年每股收益为{eps}。", "{name}2023年基本每股收益{eps}。", "{name}2023年折合每股收益{eps}。"),
    "dps": (
        "{name}2023年度每股派发现金红利{dps}（含税）。",
        "{name}2023年度的每股现金分红为{dps}。",
        "{name}拟向全体股东每股派发2023年度现金红利{dps}。",
    ),
    "price": ("2023年末，{name}股价收于{price}。", "{name}2023年最后一个交易日收盘价为{price}。"),
    "shares": ("{name}总股本为{shares}。", "{name}的总股本是{shares}。"),
}


def _slots(company: Company) -> dict[str, str]:
    """Template slots of a company: every fact's display value plus names and a few derived figures."""
    slots = {attribute: fact_value(company, attribute) for attribute in _FACT_PHRASES}
    slots |= {metric.key: metric_value(company, metric.key) for metric in METRICS}
    slots |= {
        "name": company.name_zh,
        "en": company.name_en,
        "age": str(FISCAL_YEAR - company.founded),
        "dps10": f"{company.financials.dps * 10:.1f}",
        "years_listed": str(FISCAL_YEAR - company.listed),
    }
    return slots


def fact_sentence(rng: random.Random, company: Company, attribute: str, name: str = "", value: str = "") -> str:
    """One Chinese sentence stating a fact; `name` replaces the company name, `value` the true value."""
    slots = _slots(company) | {"name": name or company.name_zh}
    if value:
        slots[attribute] = value
    return rng.choice(_FACT_PHRASES[attribute]).format(**slots)


def _facts(rng: random.Random, company: Company, attributes: list[str] | tuple[str, ...]) -> str:
    """Sentences for several facts; after the first, the company is sometimes called 公司 / 该公司."""
    sentences = []
    for index, attribute in enumerate(attributes):
        alias = index > 0 and rng.random() < 0.35
        sentences.append(fact_sentence(rng, company, attribute, rng.choice(("公司", "该公司")) if alias else ""))
    return "".join(sentences)


def en_money(yi: float) -> str:
    """亿元 as an English amount: 125.3 -> `RMB 12.53 billion`."""
    return f"RMB {yi / 10:.2f} billion"


_NEWS_COMMENTS = (
    "业内人士认为，公司在细分领域具备一定的竞争优势，但也需要关注行业周期波动带来的影响。",
    "分析人士指出，未来一段时间公司业绩能否保持增长，主要取决于下游需求的恢复情况。",
    "从二级市场表现看，近期板块成交较为活跃，资金关注度有所提升。",
    "公司表示，将继续坚持稳健经营，加大研发投入，不断提升核心竞争力。",
    "有券商研究报告认为，公司现金流状况良好，分红政策具有较强的可持续性。",
    "需要提醒的是，上述数据均来自公司公告，投资者应结合自身情况审慎决策。",
    "公司管理层在业绩说明会上表示，将进一步优化资产结构，严格控制经营风险。",
    "市场人士提醒，投资者不应只看单一年度的利润数据，还要关注盈利的质量和持续性。",
    "年报同时披露，公司在数字化转型和绿色发展方面持续投入，相关项目进展顺利。",
    "多位分析师表示，行业竞争格局正在重塑，头部企业的优势有望进一步扩大。",
)
_CHAIRMAN_QUOTES = (
    "过去一年，我们顶住压力，保持了经营的总体稳定。",
    "我们将坚持长期主义，聚焦主业，为股东创造可持续的回报。",
    "新的一年，公司会在稳健经营的基础上，继续推进产品和服务的升级。",
    "我们始终把风险管理放在首位，确保公司行稳致远。",
    "未来三年，公司将持续加大研发投入，培育新的增长点。",
    "感谢广大投资者的信任，我们会用实实在在的业绩回报股东。",
)
_SOCIAL_REPLIES = (
    "感谢楼主分享，数据很详细。",
    "分红还算可以，就是估值不算便宜，我再观望一下。",
    "理性讨论，以上不构成任何投资建议。",
    "楼主说得有道理，不过还要结合行业景气度一起看。",
    "我更关心它的负债水平，杠杆太高的公司我一般不碰。",
    "长期持有的话，还是要看管理层靠不靠谱。",
    "收藏了，回头对照年报再仔细看看。",
    "这个行业的周期性比较强，买之前最好先想清楚持有多久。",
    "同意，单看一年的利润说明不了太多问题。",
    "新手请教一下，这些指标在哪里可以查到？交易所网站上的年报里都有。",
)
_EN_COMMENTS = (
    "Analysts said the figures were broadly in line with expectations.",
    "The company said it would keep investing in research and tighten cost control.",
    "Investors should read the full annual report before drawing conclusions.",
    "The board said the dividend policy reflects confidence in future cash flows.",
)


def _field_lines(slots: dict[str, str], fields: Sequence[tuple[str, str]]) -> str:
    """One `label：value` line per (label, slot key) pair, as profile and quote pages list them."""
    return "\n".join(f"{label}：{slots[key]}" for label, key in fields)


def _date(rng: random.Random) -> str:
    return f"2024年{rng.randint(3, 4)}月{rng.randint(1, 28)}日"


# --- company documents ----------------------------------------------------------------------------------


def _encyclopedia(rng: random.Random, world: World, company: Company) -> Document:
    slots = _slots(company)
    intro = rng.choice(
        (
            "{name}（英文名称：{en}）是一家在{exchange}上市的{sector}企业，股票代码为{ticker}，总部位于{city}。",
            "{name}（{en}，股票代码{ticker}）是{city}的一家{sector}行业上市公司，股票在{exchange}挂牌交易。",
            "{name}，英文名{en}，是总部设在{city}的{sector}公司，于{listed}登陆{exchange}，股票代码{ticker}。",
        )
    ).format(**slots)
    heads = rng.choice(
        (("基本信息", "发展历程", "经营业绩", "股东回报"), ("公司概况", "历史沿革", "财务数据", "分红情况"))
    )
    labels = (
        ("中文名称", "name"), ("英文名称", "en"), ("成立时间", "founded"), ("上市时间", "listed"),
        ("上市地点", "exchange"), ("股票代码", "ticker"), ("总部地点", "city"), ("所属行业", "sector"),
        ("董事长", "chairman"), ("员工人数", "employees"),
    )  # fmt: skip
    info = _field_lines(slots, labels)
    history = _facts(rng, company, ("founded", "listed", "chairman", "employees"))
    results = _facts(rng, company, ("revenue", "net_profit", "total_assets", "debt_ratio", "roe", "eps"))
    results += f"据此计算，{company.name_zh}2023年的净利率约为{slots['net_margin']}。"
    dividend = _facts(rng, company, ("dps",)) + f"以每股收益计算，当年的股息支付率约为{slots['payout_ratio']}。"
    sections = zip(heads, (info, history, results, dividend), strict=True)
    body = "\n\n".join(f"{head}\n{text}" for head, text in sections)
    return Document(f"{company.name_zh}\n\n{intro}\n\n{body}", "zh", "finance_encyclopedia")


def _web_profile(rng: random.Random, world: World, company: Company) -> Document:
    slots = _slots(company)
    title = rng.choice(("{name}（{ticker}）公司资料", "公司简介 - {name} {ticker}", "{name} F10 公司概况")).format(
        **slots
    )
    fields = (
        ("公司名称", "name"), ("英文名称", "en"), ("股票代码", "ticker"), ("上市交易所", "exchange"),
        ("所属行业", "sector"), ("总部", "city"), ("成立日期", "founded"), ("上市日期", "listed"),
        ("董事长", "chairman"), ("员工总数", "employees"),
    )  # fmt: skip
    table = _field_lines(slots, fields)
    finance = (
        ("营业收入", "revenue"), ("净利润", "net_profit"), ("总资产", "total_assets"), ("资产负债率", "debt_ratio"),
        ("净资产收益率", "roe"), ("每股收益", "eps"), ("每股股利", "dps"),
    )  # fmt: skip
    figures = _field_lines(slots, finance)
    about = _facts(rng, company, ("sector", "city", "chairman"))
    return Document(f"{title}\n\n{table}\n\n公司简介\n{about}\n\n主要财务指标（2023年）\n{figures}", "zh", "web")


def _quote_page(rng: random.Random, world: World, company: Company) -> Document:
    slots = _slots(company)
    rows = (
        ("收盘价（2023年末）", "price"), ("总股本", "shares"), ("总市值", "market_cap"), ("市盈率（静态）", "pe"),
        ("每股收益", "eps"), ("每股股利", "dps"), ("股息率", "dividend_yield"), ("资产负债率", "debt_ratio"),
    )  # fmt: skip
    table = _field_lines(slots, rng.sample(rows, rng.randint(5, len(rows))))
    note = rng.choice(
        (
            "数据说明：以上指标根据公司2023年年报及年末收盘价计算，仅供参考。",
            "提示：行情数据可能存在延迟，估值指标以年报数据为基础计算，不构成投资建议。",
        )
    )
    head = rng.choice(("{name}（{ticker}）行情数据", "个股资料 {ticker} {name}"))
    return Document(f"{head.format(**slots)}\n\n{table}\n\n{_facts(rng, company, ('exchange',))}{note}", "zh", "web")


def _annual_news(rng: random.Random, world: World, company: Company) -> Document:
    slots = _slots(company)
    headline = rng.choice(
        (
            "{name}发布2023年年报：营收{revenue}，净利润{net_profit}",
            "{name}2023年净利润{net_profit}",
            "{name}交出2023年成绩单",
            "年报速递｜{name}2023年营业收入{revenue}",
        )
    ).format(**slots)
    lead = rng.choice(
        (
            "{date}晚间，{name}（{ticker}）发布2023年年度报告。",
            "本报讯 {name}近日披露2023年年报。",
            "{date}，{exchange}上市公司{name}公布了2023年经营业绩。",
        )
    ).format(date=_date(rng), **slots)
    extra = rng.sample(("eps", "roe", "total_assets", "debt_ratio"), rng.randint(2, 4))
    body = lead + _facts(rng, company, ["revenue", "net_profit", *extra])
    if rng.random() < 0.5:
        body += f"据此计算，公司净利率约为{slots['net_margin']}。"
    if rng.random() < 0.5:
        body += "\n\n" + _facts(rng, company, ("dps",))
    if rng.random() < 0.5:
        body += f"\n\n董事长{company.chairman_zh}在致股东信中表示：“{rng.choice(_CHAIRMAN_QUOTES)}”"
    body += "\n\n" + "".join(rng.sample(_NEWS_COMMENTS, 2))
    return Document(f"{headline}\n\n{body}", "zh", "news")


def _dividend_news(rng: random.Random, world: World, company: Company) -> Document:
    slots = _slots(company)
    headline = rng.choice(("{name}公布2023年度利润分配方案", "{name}拟每10股派发现金红利{dps10}元")).format(**slots)
    body = (
        f"{_date(rng)}，{company.name_zh}（{company.ticker}）发布公告，拟以总股本{slots['shares']}为基数，"
        f"向全体股东每10股派发现金红利{slots['dps10']}元（含税），即每股派发{slots['dps']}。"
    )
    body += _facts(rng, company, ("eps",)) + f"以此计算，分红比例约为{slots['payout_ratio']}。"
    if rng.random() < 0.6:
        body += f"按2023年末收盘价{slots['price']}计算，股息率约为{slots['dividend_yield']}。"
    body += rng.choice(_NEWS_COMMENTS)
    return Document(f"{headline}\n\n{body}", "zh", "news")


def _executive_news(rng: random.Random, world: World, company: Company) -> Document:
    slots = _slots(company)
    headline = rng.choice(
        ("{name}召开2023年年度股东大会", "专访{name}董事长{chairman}", "{name}董事长{chairman}：坚持稳健经营")
    ).format(**slots)
    body = rng.choice(
        (
            "{date}，{name}在{city}召开年度股东大会，董事长{chairman}主持会议。",
            "近日，记者在{city}专访了{name}董事长{chairman}。",
        )
    ).format(date=_date(rng), **slots)
    body += _facts(rng, company, rng.sample(("founded", "sector", "employees", "listed"), 3))
    body += f"\n\n谈到未来的发展，{company.chairman_zh}表示：“{rng.choice(_CHAIRMAN_QUOTES)}”"
    body += rng.choice(_NEWS_COMMENTS)
    return Document(f"{headline}\n\n{body}", "zh", "news")


def _anniversary_news(rng: random.Random, world: World, company: Company) -> Document:
    slots = _slots(company)
    headline = f"{company.name_zh}上市{slots['years_listed']}周年：从{company.city_zh}走向全国"
    body = _facts(rng, company, ("listed", "ticker", "founded"))
    body += f"按2023年末收盘价计算，{company.name_zh}总市值约为{slots['market_cap']}。"
    body += _facts(rng, company, ("revenue",)) + rng.choice(_NEWS_COMMENTS)
    return Document(f"{headline}\n\n{body}", "zh", "news")


def _forum_post(rng: random.Random, world: World, company: Company) -> Document:
    slots = _slots(company)
    title = rng.choice(
        (
            "【讨论】大家怎么看{name}（{ticker}）？",
            "持有{name}两年了，聊聊2023年年报",
            "{name}的分红到底香不香？",
            "小白求教：{name}值得长期拿吗？",
        )
    ).format(**slots)
    topics = rng.sample(("revenue", "net_profit", "roe", "debt_ratio", "eps", "dps", "chairman", "city"), 3)
    post = "楼主：" + rng.choice(("刚看完年报，简单说说。", "整理了一些数据，供大家参考。", ""))
    post += _facts(rng, company, topics)
    post += rng.choice(("个人觉得基本面还不错。", "就是不知道明年能不能保持。", "大家怎么看？"))
    replies = rng.sample(_SOCIAL_REPLIES, rng.randint(2, 4))
    if rng.random() < 0.5:
        replies.insert(1, "补充一下，" + _facts(rng, company, (rng.choice(("founded", "listed", "sector")),)))
    lines = [f"{index + 1}楼：{reply}" for index, reply in enumerate(replies)]
    return Document(f"{title}\n\n{post}\n\n" + "\n".join(lines), "zh", "social")


def _micro_post(rng: random.Random, world: World, company: Company) -> Document:
    slots = _slots(company)
    start = rng.choice(("#{name}# 刚看完年报。", "#{name}年报# ", "今天研究了一下{name}（{ticker}）。")).format(
        **slots
    )
    body = _facts(rng, company, rng.sample(("revenue", "net_profit", "roe", "dps", "eps", "total_assets"), 2))
    mood = rng.choice(("还行吧，继续拿着。", "比预期好一点。", "估值还得再看看。", "分红还不错，先关注。"))
    return Document(start + body + mood, "zh", "social")


def _textbook_example(rng: random.Random, world: World, company: Company) -> Document:
    title = rng.choice(("财务比率分析例题", "上市公司财务分析案例", f"第{rng.randint(3, 9)}章 财务报表分析 例题"))
    parts = []
    for index, metric in enumerate(rng.sample(METRICS, rng.randint(2, 3)), start=1):
        inputs = metric_inputs(company, metric.key)
        value = metric_value(company, metric.key)
        parts.append(
            f"例{index}：已知{company.name_zh}2023年{inputs}，求该公司的{metric.name_zh}。\n"
            f"解：{worked_metric(company, metric.key)}。\n"
            f"因此，{company.name_zh}2023年的{metric.name_zh}约为{value}。"
        )
    return Document(f"{title}\n\n" + "\n\n".join(parts), "zh", "textbook")


def _english_profile(rng: random.Random, world: World, company: Company) -> Document:
    c, f = company, company.financials
    text = rng.choice(
        (
            "{en} ({zh}) is a {sector} company headquartered in {city}, China. Founded in {founded}, it listed on "
            "the {exchange} in {listed} under the stock code {ticker}. Its chairman is {chairman}.",
            "{en} ({zh}; stock code {ticker}) is listed on the {exchange}. The {sector} group was set up in "
            "{founded}, went public in {listed} and is based in {city}. {chairman} chairs the board.",
        )
    ).format(
        en=c.name_en, zh=c.name_zh, sector=c.sector_en.lower(), city=c.city_en, founded=c.founded,
        exchange=c.exchange_en, listed=c.listed, ticker=c.ticker, chairman=c.chairman_en,
    )  # fmt: skip
    text += (
        f" In {FISCAL_YEAR} it reported revenue of {en_money(f.revenue)} and net profit of {en_money(f.net_profit)}."
        f" Total assets were {en_money(f.total_assets)} with a debt-to-asset ratio of {f.debt_ratio:.1f}%,"
        f" and return on equity was {f.roe:.1f}%. It employed about {c.employees} people."
    )
    return Document(f"{c.name_en}\n\n{text}", "en", "english_web")


def _english_news(rng: random.Random, world: World, company: Company) -> Document:
    c, f = company, company.financials
    headline = rng.choice(
        (f"{c.name_en} posts {FISCAL_YEAR} results", f"{c.name_en} lifts payout after {FISCAL_YEAR}")
    )
    body = (
        f"{c.name_en} ({c.ticker}), the {c.city_en}-based {c.sector_en.lower()} company, said revenue for "
        f"{FISCAL_YEAR} reached {en_money(f.revenue)} while net profit came in at {en_money(f.net_profit)}. "
        f"Earnings per share were RMB {f.eps:.2f}, and the board proposed a cash dividend of RMB {f.dps:.2f} per "
        f"share. Chairman {c.chairman_en} said the company would stay focused on its core business. "
    )
    return Document(f"{headline}\n\n{body}{rng.choice(_EN_COMMENTS)}", "en", "english_web")


_INVESTOR_QUESTIONS = {
    "sector": "请问{name}主要属于哪个行业？",
    "city": "想了解一下{name}的总部在什么地方？",
    "founded": "{name}是什么时候创立的？",
    "listed": "请问{name}是哪一年登陆资本市场的？",
    "chairman": "请问{name}现在的董事长是谁？",
    "exchange": "{name}的股票在哪里交易？",
    "ticker": "请问{name}的股票代码是多少？",
    "revenue": "{name}2023年的营收规模有多大？",
    "net_profit": "{name}2023年赚了多少钱？",
    "debt_ratio": "{name}目前的负债水平如何？",
    "roe": "{name}2023年的ROE是多少？",
    "dps": "{name}2023年度分红多少？",
}


def _investor_qa(rng: random.Random, world: World, company: Company) -> Document:
    """An investor-relations Q&A page (interactive-platform style): each answer restates one fact."""
    attributes = rng.sample(list(_INVESTOR_QUESTIONS), rng.randint(4, 6))
    name = company.name_zh
    pairs = [
        f"问：{_INVESTOR_QUESTIONS[a].format(name=name)}\n答：您好，{fact_sentence(rng, company, a)}感谢关注！"
        for a in attributes
    ]
    head = rng.choice(("投资者互动问答 - {name}（{ticker}）", "{name}董秘问答精选", "互动平台｜{name}回复投资者提问"))
    return Document(head.format(**_slots(company)) + "\n\n" + "\n\n".join(pairs), "zh", "social")


_COMPANY_BUILDERS: tuple[tuple[Callable[[random.Random, World, Company], Document], int], ...] = (
    (_encyclopedia, 2),
    (_web_profile, 1),
    (_quote_page, 2),
    (_annual_news, 4),
    (_dividend_news, 2),
    (_executive_news, 2),
    (_anniversary_news, 1),
    (_forum_post, 3),
    (_micro_post, 2),
    (_textbook_example, 3),
    (_investor_qa, 4),
)
_ENGLISH_BUILDERS = (_english_profile, _english_news)


def _pick(rng: random.Random, weighted: tuple[tuple[Callable, int], ...]) -> Callable:
    return rng.choices([builder for builder, _ in weighted], weights=[weight for _, weight in weighted])[0]


# --- documents about several companies ------------------------------------------------------------------


def _sector_roundup(rng: random.Random, world: World, companies: list[Company]) -> Document:
    sector = companies[0].sector_zh
    lines = [
        f"{c.name_zh}（{c.ticker}）：营业收入{fact_value(c, 'revenue')}，净利润{fact_value(c, 'net_profit')}。"
        for c in companies
    ]
    leader = max(companies, key=lambda c: c.financials.revenue)
    head = rng.choice(("{s}板块2023年年报盘点", "一图看懂：{s}行业上市公司2023年业绩")).format(s=sector)
    summary = f"从营业收入看，{leader.name_zh}以{fact_value(leader, 'revenue')}位居上述公司首位。"
    return Document(f"{head}\n\n" + "\n".join(lines) + f"\n\n{summary}{rng.choice(_NEWS_COMMENTS)}", "zh", "news")


def metric_sentence(company: Company, key: str) -> str:
    """One sentence stating a derived ratio of the company: `X2023年的股息率约为3.19%。`"""
    return f"{company.name_zh}2023年的{METRICS_BY_KEY[key].name_zh}约为{metric_value(company, key)}。"


def _fact_digest(rng: random.Random, world: World, companies: list[Company]) -> Document:
    """A listed-company quick-reference page: short sentences, each naming the company next to one fact
    (profile, 2023 figures, or a valuation/ratio figure as data sites list them).

    Learnability probes showed that a few-million-parameter model binds facts to company names far
    sooner from such dense statements than from long articles alone.
    """
    keys = PROFILE_ATTRIBUTES + STATEMENT_ATTRIBUTES + tuple(METRICS_BY_KEY)

    def sentence(company: Company, key: str) -> str:
        return metric_sentence(company, key) if key in METRICS_BY_KEY else fact_sentence(rng, company, key)

    entries = ["".join(sentence(company, key) for key in rng.sample(keys, rng.randint(4, 6))) for company in companies]
    head = rng.choice(("上市公司速览", "公司速查｜基本资料与2023年财务要点", "投资者手册：上市公司要点摘录"))
    return Document(head + "\n\n" + "\n".join(entries), "zh", "web")


def _comparison_lesson(rng: random.Random, world: World, companies: list[Company]) -> Document:
    a, b = companies
    attribute = rng.choice(("roe", "debt_ratio", "eps"))
    label = ATTRIBUTE_LABELS[attribute]
    high, low = sorted((a, b), key=lambda c: getattr(c.financials, attribute), reverse=True)
    meaning = {
        "roe": "说明其运用股东资本创造利润的效率更高",
        "debt_ratio": "说明其财务杠杆更高，偿债压力相对更大",
        "eps": "说明每一股分享的利润更多",
    }[attribute]
    text = (
        f"案例：比较{a.name_zh}与{b.name_zh}的{label}\n\n"
        f"{fact_sentence(rng, a, attribute)}{fact_sentence(rng, b, attribute)}"
        f"两者相比，{high.name_zh}的{label}高于{low.name_zh}，{meaning}。"
        "需要注意的是，不同行业的财务特征差异较大，比较时最好选择同行业公司。"
    )
    return Document(text, "zh", "textbook")


# --- concept documents ----------------------------------------------------------------------------------

_CATEGORY_TIPS = {
    "估值指标": "估值指标需要结合行业特点和公司成长性使用，单一指标容易产生误判。",
    "财务分析": "分析财务指标时，应当同时比较历史趋势和同行业公司，而不是孤立地看一个数字。",
    "债券": "债券投资除了关注票面利率，还要关注利率风险和发行人的信用风险。",
    "交易机制": "使用这类交易工具前，应充分了解规则和风险，量力而行。",
    "衍生品": "衍生品具有杠杆特征，收益和风险都会被放大，普通投资者需要谨慎参与。",
    "公司金融": "公司金融决策的核心是在风险可控的前提下为股东创造价值。",
    "宏观经济": "宏观经济变量会通过利率、汇率和企业盈利等渠道影响资产价格。",
    "基金投资": "选择基金时，应关注基金类型、费用水平、跟踪误差以及自身的投资期限。",
    "风险管理": "风险管理的目标不是消除风险，而是识别、衡量并控制在可以承受的范围内。",
    "基础概念": "理解基础概念是进一步学习投资理财知识的前提。",
}
_CONCEPT_EXAMPLE_METRICS = {
    "pe": "pe",
    "net_margin": "net_margin",
    "dividend_yield": "dividend_yield",
    "payout_ratio": "payout_ratio",
    "market_cap": "market_cap",
    "debt_ratio": "liabilities",
}


def _concept_intro(concept: Concept) -> str:
    abbreviation = f"，简称{concept.abbreviation}" if concept.abbreviation else ""
    return f"{concept.name_zh}（英文：{concept.name_en}{abbreviation}）是指{concept.definition_zh}。"


def _concept_example(rng: random.Random, world: World, concept: Concept) -> str:
    """A worked example on a KB company when the concept is a KB ratio, else ""."""
    company = rng.choice(world.companies)
    if concept.key in _CONCEPT_EXAMPLE_METRICS:
        key = _CONCEPT_EXAMPLE_METRICS[concept.key]
        return f"以{company.name_zh}为例：{worked_metric(company, key)}。"
    profit, assets, debt = (number(company, name) for name in ("net_profit", "total_assets", "debt_ratio"))
    if concept.key == "roe":
        return (
            f"以{company.name_zh}为例：2023年净利润{profit}亿元，年末总资产{assets}亿元，资产负债率{debt}%，"
            f"净资产收益率 = {profit} ÷ （{assets} × （1 − {debt}%））× 100% ≈ {fact_value(company, 'roe')}。"
        )
    if concept.key == "eps":
        return (
            f"以{company.name_zh}为例：2023年净利润{profit}亿元，总股本{fact_value(company, 'shares')}，"
            f"每股收益 = {profit} ÷ {number(company, 'shares')} ≈ {fact_value(company, 'eps')}。"
        )
    if concept.key == "compound_interest":
        principal, rate, years = rng.choice((10000, 20000, 50000)), rng.choice((2, 3, 4, 5)), rng.randint(2, 10)
        total = principal * (1 + rate / 100) ** years
        return (
            f"例如本金{principal}元，年利率{rate}%，按年复利计算{years}年，"
            f"本息和 = {principal} × （1 + {rate}%）^{years} ≈ {total:.2f}元。"
        )
    return ""


def _concept_encyclopedia(rng: random.Random, world: World, concept: Concept) -> Document:
    text = f"{concept.name_zh}\n\n{_concept_intro(concept)}它是{concept.category_zh}领域的常用概念。"
    if concept.formula_zh:
        text += f"\n\n计算公式\n{concept.formula_zh}"
    related = [c.name_zh for c in world.concepts if c.category_zh == concept.category_zh and c != concept]
    if related:
        text += "\n\n相关概念\n" + "、".join(related)
    return Document(text, "zh", "finance_encyclopedia")


def _concept_textbook(rng: random.Random, world: World, concept: Concept) -> Document:
    parts = [f"第{rng.randint(1, 12)}节 {concept.name_zh}", f"一、概念\n{_concept_intro(concept)}"]
    if concept.formula_zh:
        parts.append(f"二、计算方法\n{concept.formula_zh}。" + _concept_example(rng, world, concept))
    parts.append(f"{'三' if concept.formula_zh else '二'}、学习要点\n{_CATEGORY_TIPS[concept.category_zh]}")
    return Document("\n\n".join(parts), "zh", "textbook")


def _concept_forum(rng: random.Random, world: World, concept: Concept) -> Document:
    question = rng.choice(("新手提问：{n}到底是什么意思？", "请教各位，{n}怎么理解？", "{n}和炒股有什么关系？"))
    answer = f"1楼：简单来说，{concept.name_zh}是指{concept.definition_zh}。"
    if concept.formula_zh:
        answer += f"公式是{concept.formula_zh}。"
    answer += "\n2楼：" + rng.choice(("说得很清楚，收藏了。", "补充一句：" + _CATEGORY_TIPS[concept.category_zh]))
    return Document(f"{question.format(n=concept.name_zh)}\n\n{answer}", "zh", "social")


def _concept_web(rng: random.Random, world: World, concept: Concept) -> Document:
    title = rng.choice(("理财小课堂｜一文读懂{n}", "{n}是什么？看完这篇就懂了")).format(n=concept.name_zh)
    body = _concept_intro(concept) + f"按照知识类别，{concept.name_zh}属于{concept.category_zh}。"
    if concept.formula_zh:
        body += f"\n\n怎么计算？\n{concept.formula_zh}。" + _concept_example(rng, world, concept)
    body += f"\n\n要点回顾\n{_CATEGORY_TIPS[concept.category_zh]}"
    return Document(f"{title}\n\n{body}", "zh", "web")


def _concept_sentences(concept: Concept) -> list[str]:
    """Short statements of one concept, in both directions (name -> meaning and meaning -> name)."""
    sentences = [
        _concept_intro(concept),
        f"{concept.definition_zh}，这一金融概念称为{concept.name_zh}。",
        f"{concept.name_zh}的英文名称是{concept.name_en}。",
        f"{concept.name_zh}属于{concept.category_zh}方面的概念。",
    ]
    if concept.formula_zh:
        sentences.append(f"{concept.name_zh}的计算公式为：{concept.formula_zh}。")
    return sentences


def _glossary_digest(rng: random.Random, world: World, concepts: list[Concept]) -> Document:
    """A finance glossary page: a few concepts, two or three short statements each (see `_fact_digest`)."""
    entries = ["".join(rng.sample(_concept_sentences(concept), rng.randint(2, 3))) for concept in concepts]
    head = rng.choice(("金融名词速查", "投资者教育｜常用金融术语表", "财经词典：术语摘录"))
    return Document(head + "\n\n" + "\n".join(entries), "zh", "finance_encyclopedia")


def _concept_english(rng: random.Random, world: World, concept: Concept) -> Document:
    name = concept.name_en + (f" ({concept.abbreviation})" if concept.abbreviation else "")
    title = name[0].upper() + name[1:]
    text = f"{title}\n\n{title} ({concept.name_zh}) is {concept.definition_en}."
    if concept.formula_en:
        text += f" Formula: {concept.formula_en}."
    text += f" It is a basic idea in {concept.category_en}."
    return Document(text, "en", "english_web")


_CONCEPT_BUILDERS: tuple[tuple[Callable[[random.Random, World, Concept], Document], int], ...] = (
    (_concept_encyclopedia, 1),
    (_concept_textbook, 3),
    (_concept_forum, 2),
    (_concept_web, 2),
    (_concept_english, 1),
)


# --- exercise sheets ------------------------------------------------------------------------------------


def _exercise_sheet(rng: random.Random, world: World, subject: str, facts: list[Fact]) -> Document:
    chosen = rng.sample(facts, min(len(facts), rng.randint(3, 6)))
    header = exam_header(subject) if rng.random() < 0.6 else rng.choice(("【练习题】\n\n", "课后习题\n\n"))
    body = "".join(format_question(make_question(rng, world, fact), with_answer=True) for fact in chosen)
    return Document((header + body).rstrip("\n"), "zh", "textbook", protected=True, facts=tuple(chosen))


# --- planted defects ------------------------------------------------------------------------------------

_S2T = opencc.OpenCC("s2t")
_HALFWIDTH = str.maketrans({"，": ",", "。": ".", "？": "?", "！": "!", "：": ":", "；": ";", "（": "(", "）": ")"})
_SYMBOL_RUNS = ("！！！！！！", "…………………", "~~~~~~~~", "==========", "？？？？？", "★★★★★★")
_GAPS = {"spaces": "    ", "tabs": "\t\t", "ideographic_spaces": "\u3000\u3000", "blank_lines": "\n\n\n\n"}
_SYNONYMS = (("公司", "企业"), ("实现", "录得"), ("表示", "指出"), ("投资者", "投资人"), ("持续", "不断"))
_SPAM_TEMPLATES = (
    "【{kw}】正规{kw}平台，注册即送88元，日赚千元不是梦，详情加微信{contact}。",
    "专业{kw}，安全快捷，全国可办，联系电话{contact}。",
    "炒股亏了？来试试{kw}，稳赚不赔，内部渠道限时开放，联系{contact}。",
    "招聘兼职：{kw}，手机操作，日结工资，无需经验，加QQ{contact}。",
    "{kw}内部群，每天推荐必中号码，名额有限，速来！联系人{contact}。",
)
_SHORT_TEXTS = ("暂无内容", "点击查看全文", "加载中", "页面不存在", "本文已删除", "内容审核中")
_BOILERPLATE = (
    "首页 | 登录 | 注册 | 关于我们 | 联系我们",
    "您的位置：首页 > 财经 > 正文",
    "上一篇  下一篇  返回顶部",
    "版权所有 © 2024 财经资讯网 保留所有权利",
    "扫码关注公众号  分享到：微博 微信 QQ空间",
)
_NOISE_KINDS = ("random_chars", "mojibake", "base64", "boilerplate", "too_short")


def _sentence_ends(text: str) -> list[int]:
    return [index + 1 for index, char in enumerate(text) if char == "。"]


def _insert_at(rng: random.Random, text: str, pieces: list[str]) -> str:
    ends = _sentence_ends(text) or [len(text)]
    for position, piece in sorted(
        zip(rng.sample(ends, min(len(pieces), len(ends))), pieces, strict=False), reverse=True
    ):
        text = text[:position] + piece + text[position:]
    return text


def _traditional(rng: random.Random, text: str) -> tuple[str, str]:
    return _S2T.convert(text), "s2t"


def _halfwidth(rng: random.Random, text: str) -> tuple[str, str]:
    return text.translate(_HALFWIDTH), "ascii punctuation"


def _repeated_symbols(rng: random.Random, text: str) -> tuple[str, str]:
    run = rng.choice(_SYMBOL_RUNS)
    return _insert_at(rng, text, [run] * rng.randint(2, 3)), run


def _whitespace(rng: random.Random, text: str) -> tuple[str, str]:
    kinds = rng.sample(list(_GAPS), 3)
    return _insert_at(rng, text, [_GAPS[kind] for kind in kinds]), ",".join(kinds)


_IN_PLACE = {
    "halfwidth_punct": _halfwidth,
    "repeated_symbols": _repeated_symbols,
    "whitespace": _whitespace,
}


def _edit(rng: random.Random, text: str) -> str:
    """One or two light edits: a synonym swap, a dropped or an added sentence (figures are never rewritten)."""
    for operation in rng.sample(("synonym", "drop", "add"), rng.randint(1, 2)):
        ends = _sentence_ends(text)
        present = [pair for pair in _SYNONYMS if pair[0] in text]
        if operation == "synonym" and present:
            old, new = rng.choice(present)
            text = text.replace(old, new, 1)
        elif operation == "drop" and len(ends) > 3:
            index = rng.randrange(1, len(ends))
            text = text[: ends[index - 1]] + text[ends[index] :]
        else:
            position = rng.choice(ends or [len(text)])
            text = text[:position] + rng.choice(_NEWS_COMMENTS) + text[position:]
    return text


def _near_copy(rng: random.Random, text: str) -> str:
    """A copy with small edits that stays at least 85% similar to the original (difflib ratio)."""
    for _ in range(10):
        edited = _edit(rng, text)
        if edited != text and difflib.SequenceMatcher(None, text, edited, autojunk=False).ratio() >= 0.85:
            return edited
    return text + rng.choice(_NEWS_COMMENTS)


def _spam(rng: random.Random, prefix: str) -> tuple[str, str]:
    keywords = rng.sample(BAD_KEYWORDS, rng.randint(1, 3))
    lines = [
        rng.choice(_SPAM_TEMPLATES).format(kw=keyword, contact=f"{rng.randint(10**7, 10**9)}") for keyword in keywords
    ]
    return (prefix + "\n" if prefix else "") + "\n".join(lines), ",".join(keywords)


def _noise(rng: random.Random, kind: str, source: str) -> str:
    if kind == "random_chars":
        chars = [chr(rng.randint(0x4E00, 0x9FA5)) if rng.random() < 0.8 else rng.choice("#@%&*^$") for _ in range(240)]
        return "".join(chars)
    if kind == "mojibake":
        return source[:300].encode("utf-8").decode("gbk", errors="replace")
    if kind == "base64":
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        blob = "".join(rng.choice(alphabet) for _ in range(rng.randint(300, 600)))
        return f"图片加载中\ndata:image/png;base64,{blob}=="
    if kind == "boilerplate":
        return "\n".join(rng.sample(_BOILERPLATE, 4))
    return rng.choice(_SHORT_TEXTS)


def _monthly_report(rng: random.Random, company: Company) -> tuple[str, str]:
    """Two monthly reports that differ only in their digits (same digit layout): not duplicates."""
    revenue = company.financials.revenue / 12 * rng.uniform(0.8, 1.2)
    profit = company.financials.net_profit / 12 * rng.uniform(0.8, 1.2)
    figures = [str(rng.randint(1, 9)), f"{revenue:.1f}", f"{rng.uniform(1, 9):.1f}", f"{profit:.2f}"]
    figures += [f"{rng.uniform(1, 9):.1f}", f"{rng.uniform(10, 60):.1f}"]
    template = (
        f"{company.name_zh}（{company.ticker}）公布2023年{{}}月经营数据。当月公司实现营业收入{{}}亿元，同比增长{{}}%；"
        "实现净利润{}亿元，同比增长{}%；销售毛利率为{}%。公司表示，上述数据未经审计，最终以定期报告为准。"
    )
    variant = figures
    while variant == figures:  # keep each figure's first digit and layout, redraw the other digits
        variant = ["".join(str(rng.randint(0, 9)) if c.isdigit() else c for c in f[1:]) for f in figures]
        variant = [f[0] + rest for f, rest in zip(figures, variant, strict=True)]
    return template.format(*figures), template.format(*variant)


# --- assembly -------------------------------------------------------------------------------------------


def _clean_documents(rng: random.Random, world: World, plan: ExamPlan, config: EmbeddedDataConfig) -> list[Document]:
    docs: list[Document] = []
    for company in world.companies:
        docs += [_encyclopedia(rng, world, company), _web_profile(rng, world, company)]
        docs[-1].protected = docs[-2].protected = True  # every fact stays stated in at least two clean documents
        docs += [_pick(rng, _COMPANY_BUILDERS)(rng, world, company) for _ in range(config.docs_per_company - 2)]
        docs += [rng.choice(_ENGLISH_BUILDERS)(rng, world, company) for _ in range(config.english_docs_per_company)]
    docs += _group_documents(rng, world)
    for concept in world.concepts:
        docs.append(_concept_encyclopedia(rng, world, concept))
        docs[-1].protected = True
        docs += [_pick(rng, _CONCEPT_BUILDERS)(rng, world, concept) for _ in range(config.docs_per_concept - 1)]
    n_digest = min(4, len(world.companies))
    docs += [_fact_digest(rng, world, rng.sample(world.companies, n_digest)) for _ in range(config.n_digest_docs)]
    docs += [_glossary_digest(rng, world, rng.sample(world.concepts, 4)) for _ in range(config.n_glossary_docs)]
    subjects = list(SUBJECTS)
    for index in range(config.n_exercise_docs):
        subject = subjects[index % len(subjects)]
        docs.append(_exercise_sheet(rng, world, subject, plan["exercise"][subject]))
    return docs


def _group_documents(rng: random.Random, world: World) -> list[Document]:
    docs = []
    for sector in dict.fromkeys(company.sector_zh for company in world.companies):
        members = [company for company in world.companies if company.sector_zh == sector]
        if len(members) >= 2:
            docs += [_sector_roundup(rng, world, members) for _ in range(2)]
    for _ in range(len(world.companies) // 2):
        docs.append(_comparison_lesson(rng, world, rng.sample(world.companies, 2)))
    return docs


def _heldout(
    rng: random.Random, world: World, config: EmbeddedDataConfig, count: int, seen: set[str]
) -> list[Document]:
    """Clean documents from the same generators, in the corpus's proportions of company articles, concept
    articles and fact / glossary pages, whose text is not in the raw corpus. (They are the perplexity
    filter's threshold data: a genre missing here would be cut from the corpus as "unusual".)"""
    builders = (
        lambda: _pick(rng, _COMPANY_BUILDERS)(rng, world, rng.choice(world.companies)),
        lambda: _pick(rng, _CONCEPT_BUILDERS)(rng, world, rng.choice(world.concepts)),
        lambda: _fact_digest(rng, world, rng.sample(world.companies, 4)),
        lambda: _glossary_digest(rng, world, rng.sample(world.concepts, 4)),
    )
    weights = (
        config.docs_per_company * len(world.companies),
        config.docs_per_concept * len(world.concepts),
        config.n_digest_docs,
        config.n_glossary_docs,
    )
    docs: list[Document] = []
    while len(docs) < count:
        doc = rng.choices(builders, weights)[0]()
        if doc.text not in seen:
            seen.add(doc.text)
            docs.append(doc)
    for index, doc in enumerate(docs):
        doc.id = f"heldout-{index:05d}"
    return docs


def _count(fraction: float, total: int) -> int:
    """How many documents a fraction means; at least one when the fraction is not zero."""
    return max(1, round(fraction * total)) if fraction > 0 else 0


def build_corpus(rng: random.Random, world: World, plan: ExamPlan, config: EmbeddedDataConfig) -> Corpus:
    """Clean documents, planted defects mixed in and shuffled, ids assigned, held-out documents drawn."""
    clean = _clean_documents(rng, world, plan, config)
    planted: list[tuple[Document, str, str | Document]] = []
    candidates = [doc for doc in clean if doc.lang == "zh" and not doc.protected]
    rng.shuffle(candidates)
    n_zh = sum(doc.lang == "zh" for doc in clean)
    quotas = [("traditional", _count(config.traditional_fraction, n_zh), _traditional)]
    quotas += [(kind, _count(config.defect_fraction, len(clean)), function) for kind, function in _IN_PLACE.items()]
    for kind, quota, function in quotas:
        for doc in candidates[:quota]:
            doc.text, detail = function(rng, doc.text)
            planted.append((doc, kind, detail))
        candidates = candidates[quota:]
    defected = {id(doc) for doc, _, _ in planted}
    originals = [doc for doc in clean if id(doc) not in defected and not doc.facts and len(doc.text) >= 150]

    extra: list[Document] = []

    def plant(doc: Document, kind: str, detail: str | Document) -> None:
        extra.append(doc)
        planted.append((doc, kind, detail))

    for kind, quota in (
        ("near_duplicate", _count(config.near_duplicate_fraction, len(clean))),
        ("exact_duplicate", _count(config.defect_fraction / 2, len(clean))),
    ):
        pool = [doc for doc in originals if len(doc.text) >= 300] if kind == "near_duplicate" else originals
        for original in rng.sample(pool, quota):
            text = _near_copy(rng, original.text) if kind == "near_duplicate" else original.text
            plant(Document(text, original.lang, original.domain), kind, original)
    n_defects = _count(config.defect_fraction, len(clean))
    for _ in range(n_defects):
        prefix = rng.choice(originals).text.split("\n")[0] if rng.random() < 0.5 else ""
        text, keywords = _spam(rng, prefix)
        plant(Document(text, "zh", rng.choice(("social", "web"))), "spam", keywords)
    for index in range(n_defects):
        kind = _NOISE_KINDS[index % len(_NOISE_KINDS)]
        plant(Document(_noise(rng, kind, rng.choice(originals).text), "zh", "web"), "noise", kind)
    for _ in range(_count(config.defect_fraction / 2, len(clean))):
        first, second = (Document(text, "zh", "news") for text in _monthly_report(rng, rng.choice(world.companies)))
        plant(first, "numeric_variant", second)
        plant(second, "numeric_variant", first)
    for _ in range(config.clean_monthly_reports):
        extra.append(Document(_monthly_report(rng, rng.choice(world.companies))[0], "zh", "news"))

    raw = clean + extra
    rng.shuffle(raw)
    for index, doc in enumerate(raw):
        doc.id = f"raw-{index:06d}"
    records = [
        {"id": doc.id, "kind": kind, "detail": detail.id if isinstance(detail, Document) else detail}
        for doc, kind, detail in planted
    ]
    records.sort(key=lambda record: (record["id"], record["kind"]))
    n_heldout = _count(config.heldout_fraction, len(clean))
    heldout = _heldout(rng, world, config, n_heldout, {doc.text for doc in raw})
    return Corpus(raw, records, heldout)
