"""The README's config reference and the settings model say the same: every key the
model accepts has its row, and every row names a key the model accepts."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

from pydantic import BaseModel

from nginx_ha.config.models import Settings

ROOT = Path(__file__).resolve().parents[2]
# Not config keys: the engine gives the project and the stack.
NOT_KEYS = {"project", "stack"}


def _models(annotation: object) -> list[type[BaseModel]]:
    """The settings models an annotation holds (``X``, ``X | None``, ``list[X]``)."""
    args = typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for a in args for m in _models(a)]
    return []


def model_keys(model: type[BaseModel] = Settings, prefix: str = "") -> set[str]:
    """Every config key of the model: a nested model's keys dotted under its own; a
    list of models (``loadBalancers``, ``vips``) is one key, documented in its row."""
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        if not prefix and name in NOT_KEYS:
            continue
        nested = _models(field.annotation)
        if nested and typing.get_origin(field.annotation) is not list:
            for m in nested:
                keys |= model_keys(m, key + ".")
        else:
            keys.add(key)
    return keys


def _expand(token: str) -> list[str]:
    m = re.fullmatch(r"(.*)\{([^}]*)\}(.*)", token)
    if not m:
        return [token]
    return [x for part in m.group(2).split(",") for x in _expand(m.group(1) + part + m.group(3))]


def readme_keys(text: str | None = None) -> set[str]:
    text = (ROOT / "README.md").read_text() if text is None else text
    section = text[text.index("## Config reference") :]
    section = section[: section.index("\n## ", 1)]
    keys: set[str] = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cell = line.split("|")[1]
        for token in re.findall(r"`([^`]+)`", cell):
            keys |= {k.removesuffix("[]") for k in _expand(token)}
    return keys


def test_every_key_of_the_settings_model_has_its_row_in_the_readme():
    missing = model_keys() - readme_keys()
    assert not missing, f"add a row to the README's config reference for: {sorted(missing)}"


def test_every_row_of_the_readme_names_a_key_of_the_settings_model():
    unknown = readme_keys() - model_keys()
    assert not unknown, f"the README's config reference names keys nobody reads: {sorted(unknown)}"


def test_the_comparison_sees_a_missing_row():
    """A test that cannot fail is a defect: the README without one row lacks its keys."""
    text = (ROOT / "README.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `vrrp.check.watch"))
    assert "vrrp.check.watchInterval" in model_keys() - readme_keys(text.replace(row, ""))
    assert {"nginx.healthPath", "lvs.persistenceTimeout", "keepalived.sha256"} <= readme_keys()
