"""The world's structured knowledge as a user would hold it: a company table (CSV) and concept triples (JSONL).

These are the Self-QA stage's structured inputs in the main job: `knowledge/companies.csv` has one row per
company with Chinese column names, `knowledge/concept_triples.jsonl` one `(head, relation, tail)` triple per
fact about a concept. Both state exactly what `kb.json` holds.
"""

from __future__ import annotations

from .world import FISCAL_YEAR, Company, Concept, World, number

COMPANY_TABLE_TITLE = "上市公司基本信息"  # the title the main job's Self-QA stage writes before each row
# column -> the fact attribute it holds (`world.fact_value`), after the key column 公司
COLUMN_ATTRIBUTES = {
    "股票代码": "ticker", "交易所": "exchange", "行业": "sector", "总部城市": "city", "董事长": "chairman",
    "成立年份": "founded", "上市年份": "listed", "员工人数": "employees",
    f"{FISCAL_YEAR}年营业收入（亿元）": "revenue", f"{FISCAL_YEAR}年净利润（亿元）": "net_profit",
    "每股收益（元）": "eps", "资产负债率（%）": "debt_ratio", "净资产收益率（%）": "roe",
}  # fmt: skip
COMPANY_COLUMNS = ["公司", *COLUMN_ATTRIBUTES]
_PLAIN = {"ticker": "ticker", "exchange": "exchange_zh", "sector": "sector_zh", "city": "city_zh",
          "chairman": "chairman_zh", "founded": "founded", "listed": "listed", "employees": "employees"}  # fmt: skip


def company_row(company: Company) -> list[tuple[str, str]]:
    """`(column, cell)` of one company: plain values, the figures as the documents print their digits."""
    cells = [(column, str(getattr(company, _PLAIN[a])) if a in _PLAIN else number(company, a))
             for column, a in COLUMN_ATTRIBUTES.items()]  # fmt: skip
    return [("公司", company.name_zh), *cells]


def company_table(world: World) -> list[list[str]]:
    """The header, then one row per company."""
    return [COMPANY_COLUMNS] + [[cell for _, cell in company_row(c)] for c in world.companies]


def concept_statements(concept: Concept) -> list[tuple[str, str]]:
    """`(relation, tail)` of the facts about one concept, in triple-file order."""
    facts = [("英文名称", concept.name_en), ("英文缩写", concept.abbreviation), ("定义", concept.definition_zh),
             ("计算公式", concept.formula_zh), ("所属类别", concept.category_zh)]  # fmt: skip
    return [(relation, tail) for relation, tail in facts if tail]


def concept_triples(world: World) -> list[dict]:
    return [{"head": c.name_zh, "relation": r, "tail": t} for c in world.concepts for r, t in concept_statements(c)]
