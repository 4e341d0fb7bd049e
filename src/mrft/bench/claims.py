"""The published MRFT claims beside what our benchmarks measured, one verdict per claim.

A widely shared MRFT write-up states, without code: 3.2x GRPO's sample efficiency, 84%
fewer adaptation steps than GRPO (5,000 -> 800), an 18.5% higher final return, 90% of
simulated performance after 200 real-environment interactions, and positive transfer on
87% of Meta-World multi-task tasks. :func:`claim_rows` reads the analyses that
``mrft report`` wrote (``analysis.json``) and sets each claim beside the measured figure
with its 95% interval and a plain verdict:

- **refuted**: the whole interval lies short of the claim (a smaller effect, or none);
- **not told apart**: the interval reaches the claim but also "no effect" (too wide to say);
- **reproduced**: the interval reaches the claim and excludes "no effect".

"No effect" is 1x for a ratio and 0% for a change against the baseline. The sim-to-real
fraction and the transfer rate are not comparisons: they are reproduced only when the whole
interval lies at or beyond the claimed value, and not told apart when it straddles it. The
write-up compares MRFT with GRPO; the measured figures are the headline analysis's focus
method against its baseline, and each claim's wording names those two.

Two readings are ours and stated in the table: the write-up's "200 real-environment
interactions" are read as 200 real *episodes* (10,000 env steps on Reacher; a generous
reading), and its "final return" is compared with our headline's final score, an IQM
over tasks whose returns are min-max normalised per task over all evaluations in the
bench (zero is the worst evaluation seen, not a return of 0), so its percentage is not
on the write-up's scale.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

from mrft import algos
from mrft.bench.text import method_label
from mrft.errors import MrftError

REPRODUCED = "reproduced"
REFUTED = "refuted"
NOT_TOLD_APART = "not told apart"


@dataclasses.dataclass(frozen=True)
class Claim:
    key: str
    metric: str
    """What is measured, with ``{focus}`` and ``{baseline}`` for the methods' labels."""
    claimed: float
    """The write-up's figure, in the unit of ``measured`` below."""
    text: str
    """The write-up's figure as it states it."""
    no_effect: float | None
    """The value that means no difference from the baseline (``None``: not a comparison)."""
    higher_is_stronger: bool
    """Whether a larger value is a stronger effect (fewer steps: a more negative change)."""
    unit: str


CLAIMS = (
    Claim("sample_efficiency", "sample efficiency, adaptation ({focus} vs {baseline})", 3.2,
          "3.2x", 1.0, True, "x"),
    Claim("adaptation_steps_change",
          "adaptation steps to 90% of {baseline}'s final ({focus} vs {baseline})",
          -0.84, "5,000 -> 800 (-84%)", 0.0, False, "%"),
    Claim("final_change", "final score, IQM over tasks x seeds ({focus} vs {baseline}; returns "
          "min-max normalised per task over the bench's evaluations)", 0.185, "+18.5% final return",
          0.0, True, "%"),
    Claim("sim_to_real", "fraction of in-sim return after 200 real episodes ({focus}; the "
          "write-up's 200 interactions read as episodes)", 0.9,
          "90% after 200 real interactions", None, True, "fraction"),
    Claim("transfer_rate", "positive-transfer rate over MT10 tasks ({focus}; by return AUC)",
          0.87, "87% of tasks", None, True, "fraction"),
)


def verdict(claim: Claim, low: float, high: float) -> str:
    """:data:`REPRODUCED`, :data:`REFUTED` or :data:`NOT_TOLD_APART` for a measured 95%
    interval ``[low, high]`` (see the module docstring)."""
    if (high < claim.claimed) if claim.higher_is_stronger else (low > claim.claimed):
        return REFUTED
    if claim.no_effect is None:
        beyond = low >= claim.claimed if claim.higher_is_stronger else high <= claim.claimed
        return REPRODUCED if beyond else NOT_TOLD_APART
    return NOT_TOLD_APART if low <= claim.no_effect <= high else REPRODUCED


def sentence(claim: Claim, result: str, baseline: str) -> str:
    """The verdict in words; ``baseline`` is the baseline's label (``GRPO``)."""
    if result == REPRODUCED and claim.no_effect is None:
        return "Reproduced: the whole interval lies at or beyond the claimed value."
    if result == REPRODUCED:
        return ("Reproduced: the interval reaches the claimed value and excludes no "
                f"difference from {baseline}.")
    if result == REFUTED:
        return "Refuted: the whole interval lies short of the claim."
    if claim.no_effect is None:
        return "Not told apart: the interval contains the claimed value and values short of it."
    return f"Not told apart: the interval contains both the claim and no difference from {baseline}."


def _format(claim: Claim, value: float) -> str:
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if claim.unit == "x":
        return f"{value:.2f}x"
    if claim.unit == "%":
        return f"{value * 100:+.0f}%"
    return f"{value:.2f}"


def _sim_to_real_figure(analysis: dict[str, Any], method: str) -> list[float] | None:
    rows = [r for r in analysis.get("sim_to_real") or [] if r.get("method") == method]
    return rows[0].get("fraction_interval", {}).get("200") if rows else None


def _transfer_figure(analysis: dict[str, Any], method: str) -> list[float] | None:
    return ((analysis.get("transfer") or {}).get("rate_intervals") or {}).get(method)


def claim_rows(sources: dict[str, Path], method: str | None = None) -> list[dict[str, str]]:
    """One row per claim (a figure's ``None`` end is unbounded): ``sources`` maps
    ``"headline"``, ``"sim_to_real"`` and ``"transfer"`` to bench folders holding an
    ``analysis.json``; a claim whose figure is missing there is listed as not measured.
    ``method`` is whose sim-to-real fraction and transfer rate are read (default
    :data:`mrft.algos.FOCUS`); the claims name the headline analysis's focus and baseline."""
    method = method or algos.FOCUS
    analyses = {}
    for role, folder in sources.items():
        path = Path(folder) / "analysis.json"
        try:
            analyses[role] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise MrftError(f"{path}: cannot read the analysis ({exc}); run mrft report on "
                            f"{folder} first") from None
    figures: dict[str, tuple[list[float] | None, str]] = {}
    headline = analyses.get("headline", {})
    for key in ("sample_efficiency", "adaptation_steps_change", "final_change"):
        figures[key] = ((headline.get("claims") or {}).get(key), "headline")
    figures["sim_to_real"] = (_sim_to_real_figure(analyses.get("sim_to_real", {}), method), "sim_to_real")
    figures["transfer_rate"] = (_transfer_figure(analyses.get("transfer", {}), method), "transfer")
    labels = {"focus": method_label(headline.get("focus") or algos.FOCUS),
              "baseline": method_label(headline.get("baseline") or algos.BASELINE)}
    rows = []
    for claim in CLAIMS:
        figure, role = figures[claim.key]
        row = {"metric": claim.metric.format(**labels), "claimed": claim.text,
               "source": str(sources.get(role, "")) if role in sources else ""}
        if not figure:
            row.update(measured="not measured", verdict="—", sentence="No figure in the results.")
        else:
            # an unbounded end is always +inf: only a ratio (never negative) has one
            point, low, high = (math.inf if v is None else v for v in figure)
            result = verdict(claim, low, high)
            row.update(measured=f"{_format(claim, point)} [{_format(claim, low)}, {_format(claim, high)}]",
                       verdict=result, sentence=sentence(claim, result, labels["baseline"]))
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, str]], links_from: Path | None = None) -> str:
    """The claims table; each results link points at its folder as seen from ``links_from``
    (the folder of the file the table goes into), so it resolves wherever it is pasted."""
    lines = ["| claim | write-up | measured (95% CI) | verdict | results |",
             "| --- | --- | --- | --- | --- |"]
    for r in rows:
        target = r["source"]
        if target and links_from is not None:
            target = Path(os.path.relpath(Path(target).resolve(), Path(links_from).resolve())).as_posix()
        link = f"[{r['source']}]({target})" if r["source"] else "—"
        lines.append(f"| {r['metric']} | {r['claimed']} | {r['measured']} | {r['sentence']} | {link} |")
    return "\n".join(lines)
