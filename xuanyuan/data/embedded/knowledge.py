"""The world's structured knowledge as a user would hold it: a company table (CSV) and concept triples (JSONL).

These are the Self-QA stage's structured inputs in the main job: `knowledge/companies.csv` has one row per
company with Chinese column names, `knowledge/concept_triples.jsonl` one `(head, relation, tail)` triple per
fact about a concept. Both state exactly what `kb.json` holds.
"""

from __future__ import annotations

from .world import FISCAL_YEAR, World

COMPANY_COLUMNS = ["公司", "股票代码", "交易所", "行业", "总部城市", "董事长", "成立年份", "上市年份", "员工人数",
                   f"{FISCAL_YEAR}年营业收入（亿元）", f"{FISCAL_YEAR}年净利润（亿元）", "每股收益（元）",
                   "资产负债率（%）", "净资产收益率（%）"]  # fmt: skip


def company_table(world: World) -> list[list[str]]:
    """The header, then one row per company."""
    rows = [COMPANY_COLUMNS]
    for c in world.companies:
        f = c.financials
        rows.append([c.name_zh, c.ticker, c.exchange_zh, c.sector_zh, c.city_zh, c.chairman_zh, str(c.founded),
                     str(c.listed), str(c.employees), str(f.revenue), str(f.net_profit), str(f.eps),
                     str(f.debt_ratio), str(f.roe)])  # fmt: skip
    return rows


def concept_triples(world: World) -> list[dict]:
    triples = []
    for concept in world.concepts:
        facts = [("英文名称", concept.name_en), ("英文缩写", concept.abbreviation), ("定义", concept.definition_zh),
                 ("计算公式", concept.formula_zh), ("所属类别", concept.category_zh)]  # fmt: skip
        triples += [{"head": concept.name_zh, "relation": r, "tail": t} for r, t in facts if t]
    return triples
