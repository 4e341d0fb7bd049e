"""``mrft list``: what this installation can run, one line each, from the registries (so a
family or algorithm a plugin registers is listed like a built-in one)."""

from __future__ import annotations


def listing() -> str:
    from mrft import algos, envs
    from mrft.bench.methods import all_methods
    from mrft.bench.suite import BUILTIN

    lines = ["families (FAMILY:NAME; hidden parameters; oracle):"]
    for name, family in envs.REGISTRY.items():
        hidden = ", ".join(family.hidden_parameters) or "none"
        if family.oracle is None:
            oracle = "no oracle"
        elif callable(family.oracle):
            oracle = "oracle where the env shows them"
        else:
            oracle = "oracle"
        lines.append(f"  {name:<10} {family.summary}; e.g. {', '.join(family.examples)}; "
                     f"hidden: {hidden}; {oracle}")
    lines.append("algorithms (--algo):")
    for name, algo in algos.REGISTRY.items():
        extras = [what for what, ok in (("export", algo.supports_export),
                                        ("probe", algo.supports_probe)) if ok]
        more = f" [{', '.join(extras)}]" if extras else ""
        lines.append(f"  {name:<10} {algo.summary}{more}")
    lines.append(f"bench methods (--methods; default {','.join(algos.BENCH_METHODS)}; "
                 f"--baseline {algos.BASELINE}, --focus {algos.FOCUS}):")
    for name, method in all_methods().items():
        kind = f"{method.algo}, reference row" if method.reference else method.algo
        lines.append(f"  {name:<24} ({kind}) adapts: {method.adapts_by}")
    lines.append("built-in suites (--suite; or a .toml file):")
    lines.append("  " + ", ".join(BUILTIN))
    return "\n".join(lines)
