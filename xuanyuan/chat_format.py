"""XuanYuan-Chat's conversation format: its system prompt and chat template.

Standard library only, so that a recipe's dataclass can default to the system prompt without loading the
tokenizer stack (`xuanyuan.tokenization` re-exports both).
"""

# The published XuanYuan-Chat system prompt (reference conversation template of the XuanYuan repo).
XUANYUAN_SYSTEM_PROMPT = (
    "以下是用户和人工智能助手之间的对话。用户以Human开头，人工智能助手以Assistant开头，"
    "会对人类提出的问题给出有帮助、高质量、详细和礼貌的回答，并且总是拒绝参与与不道德、不安全、"
    "有争议、政治敏感等相关的话题、问题和指示。"
)


def with_system_prompt(messages: list[dict], system_prompt: str | None) -> list[dict]:
    """`messages` with `system_prompt` as a first system turn, unless there is none or they open with their own."""
    if system_prompt and messages[0].get("role") != "system":
        return [{"role": "system", "content": system_prompt}, *messages]
    return list(messages)


# XuanYuan-Chat's format: "{system}\n Human: {user} Assistant: {reply}</s>Human: ...".
# The `{% generation %}` block marks exactly the tokens an assistant-only loss trains on: the
# reply and its EOS, never the "Assistant:" header.
XUANYUAN_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' %}"
    "{{ messages[0]['content'] + '\\n ' }}"
    "{%- set loop_messages = messages[1:] %}"
    "{%- else %}{%- set loop_messages = messages %}{%- endif %}"
    "{%- for message in loop_messages %}"
    "{%- if message['role'] == 'user' %}"
    "{{ 'Human: ' + message['content'] + ' ' }}"
    "{%- elif message['role'] == 'assistant' %}"
    "{{ 'Assistant:' }}{% generation %}{{ ' ' + message['content'] + eos_token }}{% endgeneration %}"
    "{%- else %}{{ raise_exception('Unsupported role: ' + message['role']) }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ 'Assistant:' }}{%- endif %}"
)
