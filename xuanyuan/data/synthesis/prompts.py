"""Prompt templates of the synthesis steps: YAML in the repo, Chinese and English, overridable by the user.

A task's templates live in `xuanyuan/resources/synthesis/<task>.yaml` as `{language: {name: template}}`
(languages `zh`, `en`). A user file of the same shape (`templates: path.yaml` in a recipe config) replaces
the named templates it holds and keeps the others. Templates are `str.format` strings; `render` names the
template and the missing field when a placeholder has no value.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

LANGUAGES = ("zh", "en")


class TemplateError(ValueError):
    """A template file or template that cannot be used (picklable: one message argument)."""


def load_templates(task: str, override: str | Path | None = None) -> dict[str, dict[str, str]]:
    """`{language: {name: template}}` of `task`, with the user's `override` file laid over the shipped one."""
    shipped = resources.files("xuanyuan.resources").joinpath("synthesis").joinpath(f"{task}.yaml")
    templates = _read(str(shipped), shipped.read_text(encoding="utf-8"))
    if override:
        for language, named in _read(str(override), Path(override).read_text(encoding="utf-8")).items():
            templates.setdefault(language, {}).update(named)
    return templates


def _read(source: str, text: str) -> dict[str, dict[str, str]]:
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise TemplateError(f"{source}: expected a mapping of language -> {{name: template}}")
    for language, named in data.items():
        if language not in LANGUAGES:
            raise TemplateError(f"{source}: language {language!r} is not one of {LANGUAGES}")
        if not isinstance(named, dict) or not all(isinstance(t, str) for t in named.values()):
            raise TemplateError(f"{source}: {language}: expected name: template strings")
    return data


def render(templates: dict[str, dict[str, str]], language: str, name: str, **fields) -> str:
    try:
        template = templates[language][name]
    except KeyError:
        raise TemplateError(f"no template {name!r} for language {language!r}") from None
    try:
        return template.format(**fields)
    except KeyError as error:
        raise TemplateError(f"template {language}/{name} needs the field {error.args[0]!r}") from None
