"""Official C-Eval / CMMLU prompt strings, byte for byte, against hand-written expectations."""

import pytest

from xuanyuan.evaluation.mc_data import MCQuestion, MCSubject
from xuanyuan.evaluation.mc_prompts import (
    STYLES,
    answer_text,
    build_prompt,
    chat_context,
    chat_continuation,
    split_at_blank,
)
from xuanyuan.evaluation.mc_requests import build_requests
from xuanyuan.tokenization import load_tokenizer

DEV = [
    MCQuestion("0", "1+1=____", ("1", "2", "3", "4"), "B"),
    MCQuestion("1", "中国的首都是", ("上海", "北京", "广州", "深圳"), "B"),
    MCQuestion("2", "资产负债率 = 负债 ÷ ____", ("资产", "收入", "利润", "股本"), "A"),
    MCQuestion("3", "下列属于流动资产的是", ("固定资产", "无形资产", "存货", "商誉"), "C"),
    MCQuestion("4", "一年有几个季度？", ("2", "3", "5", "4"), "D"),
]
OPTIONS = ("资产=负债+所有者权益", "资产=收入-费用", "利润=收入+费用", "负债=资产+权益")
QUERY = MCQuestion("7", "会计恒等式是", OPTIONS, "A")

CEVAL_0 = (
    "以下是中国关于注册会计师考试的单项选择题，请选出其中的正确答案。\n\n"
    "会计恒等式是\nA. 资产=负债+所有者权益\nB. 资产=收入-费用\nC. 利润=收入+费用\nD. 负债=资产+权益\n答案："
)
CEVAL_5 = """以下是中国关于注册会计师考试的单项选择题，请选出其中的正确答案。

1+1=____
A. 1
B. 2
C. 3
D. 4
答案：B

中国的首都是
A. 上海
B. 北京
C. 广州
D. 深圳
答案：B

资产负债率 = 负债 ÷ ____
A. 资产
B. 收入
C. 利润
D. 股本
答案：A

下列属于流动资产的是
A. 固定资产
B. 无形资产
C. 存货
D. 商誉
答案：C

一年有几个季度？
A. 2
B. 3
C. 5
D. 4
答案：D

会计恒等式是
A. 资产=负债+所有者权益
B. 资产=收入-费用
C. 利润=收入+费用
D. 负债=资产+权益
答案："""
CMMLU_0 = (
    "以下是关于专业会计的单项选择题，请直接给出正确答案的选项。\n\n"
    "题目：会计恒等式是\nA. 资产=负债+所有者权益\nB. 资产=收入-费用\nC. 利润=收入+费用\nD. 负债=资产+权益\n答案是："
)
CMMLU_5 = """以下是关于专业会计的单项选择题，请直接给出正确答案的选项。

题目：1+1=____
A. 1
B. 2
C. 3
D. 4
答案是：B

题目：中国的首都是
A. 上海
B. 北京
C. 广州
D. 深圳
答案是：B

题目：资产负债率 = 负债 ÷ ____
A. 资产
B. 收入
C. 利润
D. 股本
答案是：A

题目：下列属于流动资产的是
A. 固定资产
B. 无形资产
C. 存货
D. 商誉
答案是：C

题目：一年有几个季度？
A. 2
B. 3
C. 5
D. 4
答案是：D

题目：会计恒等式是
A. 资产=负债+所有者权益
B. 资产=收入-费用
C. 利润=收入+费用
D. 负债=资产+权益
答案是："""
CEVAL_CLOZE_2 = (
    "以下是中国关于注册会计师考试的单项选择题，请选出其中的正确答案。\n\n"
    "1+1=____\n答案：2\n\n中国的首都是\n答案：北京\n\n会计恒等式是\n答案："
)


def test_ceval_prompts_are_byte_exact():
    assert build_prompt(STYLES["ceval"], "注册会计师", [], QUERY) == CEVAL_0
    assert build_prompt(STYLES["ceval"], "注册会计师", DEV, QUERY) == CEVAL_5


def test_cmmlu_prompts_are_byte_exact():
    assert build_prompt(STYLES["cmmlu"], "专业会计", [], QUERY) == CMMLU_0
    assert build_prompt(STYLES["cmmlu"], "专业会计", DEV, QUERY) == CMMLU_5


def test_cloze_prompt_drops_the_lettered_options_and_answers_with_the_option_text():
    assert build_prompt(STYLES["ceval"], "注册会计师", DEV[:2], QUERY, "cloze") == CEVAL_CLOZE_2


CEVAL_BLANK_3 = (
    "以下是中国关于注册会计师考试的单项选择题，请选出其中的正确答案。\n\n"
    "1+1=2\n\n中国的首都是\n答案：北京\n\n资产负债率 = 负债 ÷ 资产\n\n某公司的股票于"
)
BLANK_QUERY = MCQuestion("8", "某公司的股票于____上市。", ("2001年", "2019年", "2003年", "2022年"), "B")


def test_blank_prompt_fills_the_shots_blanks_and_stops_at_the_querys_blank():
    """Shots with a blank become completed statements, shots without one keep the cloze form; the query ends
    right before its blank and each option is scored together with the rest of the question."""
    assert build_prompt(STYLES["ceval"], "注册会计师", DEV[:3], BLANK_QUERY, "blank") == CEVAL_BLANK_3
    assert [answer_text(BLANK_QUERY, letter, "blank") for letter in "AB"] == ["2001年上市。", "2019年上市。"]
    assert build_prompt(STYLES["ceval"], "注册会计师", [], QUERY, "blank").endswith("会计恒等式是\n答案：")
    assert answer_text(QUERY, "C", "blank") == "利润=收入+费用"


@pytest.mark.parametrize(
    ("question", "parts"),
    [
        ("股票于____上市。", ("股票于", "上市。")),
        ("股票于＿＿＿上市", ("股票于", "上市")),
        ("下列说法正确的是（ ）", ("下列说法正确的是", "")),
        ("下列说法正确的是(　)。", ("下列说法正确的是", "。")),
        ("A____B____C", ("A", "B____C")),
        ("1+1=_2", None),
        ("公司（集团）的总部在", None),
    ],
)
def test_split_at_blank(question, parts):
    assert split_at_blank(question) == parts


def test_chat_mode_wraps_the_official_prompt_in_the_xuanyuan_template():
    tokenizer = load_tokenizer()
    assert chat_context(tokenizer, CEVAL_0) == "<s>Human: " + CEVAL_0 + " Assistant:"
    assert chat_continuation(tokenizer, CEVAL_0, "B") == " B"


def test_letter_tokens_of_the_shipped_tokenizer():
    """Plain prompts: each letter is one token after `答案：` / `答案是：`, the id of a bare letter.
    Chat: XuanYuan's template puts a space before the reply; ` A` is one token, ` B` two (`Ġ`, `B`)."""
    tokenizer = load_tokenizer()
    subject = MCSubject("accountant", "注册会计师", ("Other",), DEV, [QUERY])
    bare = [tokenizer.convert_tokens_to_ids(letter) for letter in "ABCD"]
    for style in ("ceval", "cmmlu"):
        for shots in (0, 5):
            (request,) = build_requests(tokenizer, STYLES[style], subject, shots)
            assert request.continuation_ids == [[i] for i in bare]
            prompt = CEVAL_5 if (style, shots) == ("ceval", 5) else None
            if prompt:
                assert request.context_ids == tokenizer(prompt)["input_ids"]
    (chat,) = build_requests(tokenizer, STYLES["ceval"], subject, 5, chat=True)
    tokens = [tokenizer.convert_ids_to_tokens(ids) for ids in chat.continuation_ids]
    assert tokens[0] == ["ĠA"] and tokens[1] == ["Ġ", "B"]
    assert chat.context_ids == tokenizer("<s>Human: " + CEVAL_5 + " Assistant:", add_special_tokens=False)["input_ids"]
