"""Many unsaved rows at once, for bulk_create: 10,000 rows build in milliseconds, not a fifth of a second."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from tortoise.models import Model

M = TypeVar("M", bound=Model)


def new_rows(model: type[M], common: Mapping[str, Any], rows: Iterable[Mapping[str, Any]]) -> list[M]:
    """Unsaved instances of model: common values plus each row's own, all already validated by the caller.

    Tortoise's Model.__init__ checks and assigns every attribute one by one (about 20 µs a row);
    here one instance is built that way and the others copy its state, then set their own columns.
    """
    template = model(**common).__dict__
    mutable = [key for key, value in template.items() if isinstance(value, dict | list)]  # e.g. a JSONField's default
    built = []
    for values in rows:
        row = model.__new__(model)
        state = row.__dict__
        state.update(template)
        for key in mutable:
            state[key] = type(template[key])()
        state.update(values)
        built.append(row)
    return built
