"""The methods a benchmark compares: how each one pre-trains and how it adapts.

A method is a registered algorithm, or one of the variants an algorithm declares
(:attr:`mrft.algos.base.Algorithm.variants`: ablations and reference rows), so a suite run
and an ablation study share one table and every method gets the same budgets and seeds.
The bench names no algorithm: the list comes from the registry, and the baseline and focus
are settings (``--baseline``, ``--focus``) whose defaults the registry declares.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mrft import algos
from mrft.algos.base import Variant
from mrft.errors import MrftError


@dataclasses.dataclass(frozen=True)
class Method(Variant):
    """A variant of algorithm ``algo`` (the plain algorithm: a variant that changes nothing)."""

    algo: str = ""
    """``mrft train --algo`` of the pre-training run."""


def all_methods() -> dict[str, Method]:
    """Every method of the algorithms registered now: each algorithm, then its variants."""
    methods: dict[str, Method] = {}
    for name, algo in algos.REGISTRY.items():
        methods[name] = Method(name, adapts_by=algo.adapts_by, algo=name)
    for name, algo in algos.REGISTRY.items():
        for v in algo.variants:
            fields = {f.name: getattr(v, f.name) for f in dataclasses.fields(Variant)}
            fields["adapts_by"] = v.adapts_by or algo.adapts_by
            methods[v.name] = Method(**fields, algo=name)
    return methods


def __getattr__(name: str) -> Any:
    """``METHODS``: :func:`all_methods` of the algorithms registered now."""
    if name == "METHODS":
        return all_methods()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def method(name: str) -> Method:
    methods = all_methods()
    if name not in methods:
        raise MrftError(f"unknown method {name!r}; choose from: {', '.join(methods)}")
    return methods[name]


def default_methods() -> str:
    """The methods a bench compares when none are named: the baseline, PPO-style fine-tuning
    where registered, and the focus method."""
    return ",".join(algos.BENCH_METHODS)


def parse_methods(text: str | None) -> list[str]:
    """``"grpo,ppo,mrft"`` -> names, checked, duplicates dropped, order kept."""
    names = [n.strip() for n in (text if text is not None else default_methods()).split(",")
             if n.strip()]
    if not names:
        raise MrftError(f"--methods is empty; give e.g. {default_methods()}")
    for name in names:
        method(name)
    return list(dict.fromkeys(names))


def check_role(role: str, name: str | None) -> str | None:
    """``--baseline``/``--focus`` must name a method (None: the default)."""
    if name is not None and name not in all_methods():
        raise MrftError(f"--{role} {name!r} is not a method; choose from: {', '.join(all_methods())}")
    return name


def reference_rows() -> tuple[str, ...]:
    """Methods that never adapt (scored as pre-trained): they bound a family's range, they do
    not compete, so the report compares the focus method with the learning methods only."""
    return tuple(name for name, m in all_methods().items() if m.reference)


def adaptation_note(name: str) -> str:
    """How method ``name`` adapts to a held-out instance, in words (the report's notes)."""
    methods = all_methods()
    return methods[name].adapts_by if name in methods else ""


def report_order(names: list[str], baseline: str | None = None, focus: str | None = None) -> list[str]:
    """Baseline first, the focus method second, the rest as given: the report's column order."""
    baseline = algos.BASELINE if baseline is None else baseline
    focus = algos.FOCUS if focus is None else focus
    first = [n for n in (baseline, focus) if n in names]
    return first + [n for n in names if n not in first]
