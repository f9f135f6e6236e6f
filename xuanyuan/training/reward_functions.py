"""Reward functions for TRL's `GRPOTrainer` / `RLOOTrainer`: the project's reward model and two plain rules.

Each is a callable `(prompts, completions, **kwargs) -> list[float]` over TRL's conversational format (a prompt
is a list of chat turns, a completion a one-turn list `[{"role": "assistant", "content": text}]`). The trainer
weights and sums them itself (`reward_weights` of GRPOConfig/RLOOConfig) and logs each under
`rewards/<name>/mean`; `reward_functions` builds the list a config names.

- `reward_model` (`RewardModelScore`): the trained RM's score of the whole conversation. TRL decodes completions
  without special tokens, and the RM was trained on conversations rendered by the chat template, which ends the
  reply with the EOS its score is read at; so prompt + completion is rendered exactly as in RM training
  (`encode_conversation`) and scored in length-sorted batches (`score_sequences`). The RM stays frozen in eval
  mode, on the policy's device (under DeepSpeed ZeRO-3 partitioned like the policy).
- `finance_compliance` (range [-1.5, 0]): −1 for a promise of guaranteed returns (保本, 稳赚, 保证收益, 零风险,
  "guaranteed return", ...) that is not negated right before it (不保本, "not a guaranteed return"); −0.5 more
  when the prompt asks for investment advice (投资, 买入, 推荐, 股票, 基金, ...) and the answer carries no risk
  disclaimer (投资有风险, 风险提示, 不构成投资建议, ...). 0 for a compliant answer. English phrases match as whole
  words ("invest" not in "investigate").
- `answer_format` (range [-1, 0]): −1 for an empty answer; otherwise −0.25 for an answer longer than `max_chars`
  characters, −0.5 × the share of its character n-grams that repeat an earlier one (0 for varied text, near 1
  for a loop), and −0.25 for an answer in another language than the prompt (Han share of the letters).
The rules are a few string tests each, written here because no library scores finance compliance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..data.preferences import encode_conversation
from ..data.processing.language import detect_language
from ..evaluation.reward_report import check_padding, score_sequences
from ..utils.phrases import phrase_pattern

GUARANTEE_PHRASES = (
    "保本", "稳赚", "稳赚不赔", "只赚不赔", "包赚", "保证收益", "保证盈利", "保证回报", "保收益", "零风险", "稳赢",
    "guaranteed return", "guaranteed returns", "guaranteed profit", "guaranteed profits", "guaranteed gains",
    "zero risk", "risk free return", "risk-free return", "can't lose", "cannot lose",
)  # fmt: skip
ZH_NEGATIONS = "不非无没未"
EN_NEGATIONS = ("not", "no", "never", "isn't", "aren't", "cannot", "can't", "nor")
ADVICE_WORDS = (
    "投资", "买入", "卖出", "推荐", "股票", "基金", "理财", "仓位", "加仓", "减仓", "抄底", "值得买", "资产配置",
    "invest", "investing", "investment", "buy", "buying", "sell", "selling", "stock", "stocks", "fund", "funds",
    "recommend", "portfolio",
)  # fmt: skip
DISCLAIMERS = (
    "投资有风险", "风险提示", "不构成投资建议", "不构成任何投资建议", "入市需谨慎", "谨慎投资", "注意风险", "风险自担",
    "not investment advice", "not financial advice", "investing involves risk", "investment involves risk",
)  # fmt: skip


def text_of(turns: str | Sequence[dict], role: str | None = None) -> str:
    """The text of a conversational prompt or completion (the turns of `role`, or all), or a plain string."""
    if isinstance(turns, str):
        return turns
    return "\n".join(turn["content"] for turn in turns if role is None or turn["role"] == role)


def negated(before: str) -> bool:
    """Whether the text right before a phrase negates it: a negation character among its last two characters
    (不保本, 不能保证收益, 并非零风险) or a negation word among its last two words ("not a guaranteed return")."""
    before = before.rstrip()
    return any(char in ZH_NEGATIONS for char in before[-2:]) or any(
        word in EN_NEGATIONS for word in before.split()[-2:]
    )


def promises_guarantee(text: str) -> bool:
    found = phrase_pattern(GUARANTEE_PHRASES).finditer(text)
    return any(not negated(text[: match.start()].lower()) for match in found)


def asks_for_advice(prompt: str) -> bool:
    return phrase_pattern(ADVICE_WORDS).search(prompt) is not None


def has_disclaimer(text: str) -> bool:
    return phrase_pattern(DISCLAIMERS).search(text) is not None


def finance_compliance(prompts: list, completions: list, **kwargs) -> list[float]:
    """−1 for a promise of guaranteed returns, −0.5 for investment advice without a risk disclaimer; in [-1.5, 0]."""
    scores = []
    for prompt, completion in zip(prompts, completions, strict=True):
        answer = text_of(completion)
        score = -1.0 if promises_guarantee(answer) else 0.0
        if asks_for_advice(text_of(prompt, "user")) and not has_disclaimer(answer):
            score -= 0.5
        scores.append(score)
    return scores


def repeated_share(text: str, n: int) -> float:
    """Share of the character n-grams of `text` (whitespace removed) that repeat an earlier one."""
    chars = "".join(text.split())
    grams = [chars[i : i + n] for i in range(len(chars) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def answer_format(prompts: list, completions: list, max_chars: int = 512, ngram: int = 4, **kwargs) -> list[float]:
    """−1 for an empty answer, else −(0.25·too long + 0.5·repeated n-gram share + 0.25·other language); in [-1, 0]."""
    scores = []
    for prompt, completion in zip(prompts, completions, strict=True):
        answer = text_of(completion).strip()
        if not answer:
            scores.append(-1.0)
            continue
        penalty = 0.25 * (len(answer) > max_chars) + 0.5 * repeated_share(answer, ngram)
        penalty += 0.25 * (detect_language(answer) != detect_language(text_of(prompt, "user")))
        scores.append(-penalty)
    return scores


class RewardModelScore:
    """The reward model's score of each conversation (prompt + completion rendered by the chat template, ending
    with the EOS), frozen in eval mode. `prepare(accelerator)` puts it where the policy runs."""

    __name__ = "reward_model"  # the name TRL logs it under

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, batch_size: int = 16):
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.pad_token_id = check_padding(model, tokenizer)
        self.batch_size = batch_size

    def prepare(self, accelerator) -> None:
        """On the trainer's device, next to the policy; under DeepSpeed ZeRO-3 partitioned like it."""
        from .ppo.distributed import prepare_frozen

        self.model = prepare_frozen(accelerator, self.model)

    def sequences(self, prompts: list, completions: list) -> list[list[int]]:
        """Token ids of every prompt + completion as the reward model was trained on them."""
        if any(isinstance(p, str) or isinstance(c, str) for p, c in zip(prompts, completions, strict=True)):
            raise ValueError("the reward model scores conversational prompts and completions (lists of chat turns)")
        return [encode_conversation(self.tokenizer, [*p, *c]) for p, c in zip(prompts, completions, strict=True)]

    def __call__(self, prompts: list, completions: list, **kwargs) -> list[float]:
        return score_sequences(self.model, self.sequences(prompts, completions), self.pad_token_id, self.batch_size)


RULES: dict[str, Callable] = {"finance_compliance": finance_compliance, "answer_format": answer_format}
REWARD_FUNCTIONS = ("reward_model", *RULES)


def reward_functions(
    names: Sequence[str], reward_model: RewardModelScore | None = None, max_answer_chars: int = 512
) -> list[Callable]:
    """The callables for `names` (each one of `REWARD_FUNCTIONS`), in that order."""
    unknown = [name for name in names if name not in REWARD_FUNCTIONS]
    if unknown:
        raise ValueError(f"unknown reward function(s) {unknown}; choose from {list(REWARD_FUNCTIONS)}")
    if "reward_model" in names and reward_model is None:
        raise ValueError("the reward function 'reward_model' needs a reward model (--reward_model)")
    rules = {**RULES, "answer_format": partial(answer_format, max_chars=max_answer_chars)}
    return [reward_model if name == "reward_model" else rules[name] for name in names]
