"""Presets: defaults that depend on the kind of task, filled into every unset (``None``) field.

A family names its preset kind (:data:`mrft.envs.family.KINDS`: ``images``, ``mujoco``,
``continuous``, ``classic``); the shared sections' values are here, and every algorithm
declares its own section's (:attr:`mrft.algos.base.Algorithm.presets`). Image games follow
CleanRL ``ppo_procgen.py``; MuJoCo bodies follow CleanRL ``ppo_continuous_action.py``; other
continuous control uses that script's settings scaled to larger vectorised batches; classic
control follows CleanRL ``ppo.py``. A kind missing from a table takes its parent's values
(``mujoco``: ``continuous``). An explicit value always wins over the preset.
"""

from __future__ import annotations

import dataclasses
from typing import Any

SHARED: dict[str, dict[str, dict[str, Any]]] = {
    "images": {"optim": {"learning_rate": 5e-4}, "run": {"normalize_obs": False}},
    "continuous": {"optim": {"learning_rate": 3e-4}, "run": {"normalize_obs": True}},
    "classic": {"optim": {"learning_rate": 2.5e-4}, "run": {"normalize_obs": False}},
}
"""Values of the shared sections per preset kind."""

PARENT = {"mujoco": "continuous"}
"""A kind whose table lacks a value takes its parent's."""


def kind_values(table: dict[str, Any], kind: str) -> dict[str, Any]:
    """The values a preset ``table`` (kind -> values) gives ``kind``, its parent's first."""
    parent = PARENT.get(kind)
    values = dict(kind_values(table, parent)) if parent is not None else {}
    values.update(table.get(kind, {}))
    return values


def preset_values(cfg: Any, kind: str) -> dict[str, dict[str, Any]]:
    """``{section: {field: value}}`` of preset ``kind`` for ``cfg``'s sections."""
    from mrft import algos

    values = kind_values(SHARED, kind)
    out = {section: dict(fields) for section, fields in values.items()}
    for name, algo in algos.REGISTRY.items():
        if algo.Config is not None and hasattr(cfg, name):
            out[name] = kind_values(algo.presets, kind)
    return out


def resolve_presets(cfg: Any, kind: str) -> Any:
    """``cfg`` with every ``None`` field that the preset names filled in."""
    updates: dict[str, dict[str, object]] = {}
    for section, fields in preset_values(cfg, kind).items():
        current = getattr(cfg, section)
        for field, value in fields.items():
            if getattr(current, field) is None:
                updates.setdefault(section, {})[field] = value
    return dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section), **fields)
                                       for section, fields in updates.items()})
