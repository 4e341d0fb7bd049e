"""The benchmark report: Markdown, self-contained HTML and PNG plots from an analysis dict."""

from __future__ import annotations

import copy

import pytest

from mrft.bench.report import ReportFiles, headline_markdown, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOTS = ("adaptation.png", "pretrain.png", "intervals.png")


def _curve(base: float, runs: int) -> dict:
    mean = [base, base + 0.2, base + 0.3]
    return {"steps": [0, 1000, 2000], "mean": mean, "low": [m - 0.1 for m in mean],
            "high": [m + 0.1 for m in mean], "runs": runs}


@pytest.fixture
def analysis() -> dict:
    return {
        "suite": {"name": "tiny", "description": "Two toy tasks for testing the report."},
        "baseline": "grpo",
        "focus": "mrft",
        "methods": ["grpo", "mrft", "ppo"],
        "seeds": [1, 2],
        "budget": {"pretrain_steps": 10000, "adapt_steps": 2000, "eval_every": 1000,
                   "eval_episodes": 4},
        "headline": [
            {"metric": "final return (IQM)", "definition": "score at the end of adaptation",
             "values": {"grpo": "0.73 [0.60, 0.81]", "mrft": "0.06 [0.00, 0.12]",
                        "ppo": "0.50 [0.40, 0.60]"},
             "change": {"mrft": "-92%", "ppo": "-31%"}},
            {"metric": "steps to 90% of GRPO", "definition": "env steps until the target",
             "values": {"grpo": "2,000", "mrft": "1,000"},  # ppo missing from this row
             "change": {"mrft": "-50%"}},
        ],
        "tasks": [
            {"task": "toy:reach #0", "score": "success rate",
             "methods": {"grpo": {"final": "0.94 [0.8, 1.0]", "steps": "1,000 (2/2 reached)"},
                         "mrft": {"final": "0.50 [0.4, 0.6]", "steps": "2,000 (0/2 reached)"},
                         "ppo": {"final": "0.70 [0.6, 0.8]", "steps": "2,000 (1/2 reached)"}}},
            {"task": "toy:push #1", "score": "success rate",
             "methods": {"grpo": {"final": "0.31 [0.2, 0.4]", "steps": "2,000 (1/2 reached)"}}},
        ],
        "curves": {
            "adaptation": [
                {"env": "toy:reach", "score": "success rate",
                 "methods": {"grpo": _curve(0.3, 4), "mrft": _curve(0.1, 4),
                             "ppo": _curve(0.2, 4)}},
                {"env": "toy:push", "score": "success rate",
                 "methods": {"grpo": _curve(0.2, 2), "mrft": _curve(0.0, 2)}},
            ],
            "pretrain": [
                {"env": "toy:reach", "metric": "training episodic return",
                 "methods": {"grpo": _curve(1.0, 2), "mrft": _curve(2.0, 2),
                             "ppo": {"steps": [], "mean": [], "low": [], "high": [],
                                     "runs": 0}}},
            ],
        },
        "intervals": [
            {"metric": "final return (IQM)",
             "methods": {"grpo": [0.73, 0.60, 0.81], "mrft": [0.06, 0.0, 0.12],
                         "ppo": [0.5, 0.4, 0.6]}},
        ],
        "provenance": {
            "commands": ["mrft bench --suite tiny --seeds 2 --out results/tiny"],
            "seeds": [1, 2],
            "machine": {"cpu": "Test CPU", "cores": 2, "memory_gib": 24, "python": "3.11.9"},
            "commit": "abc1234", "started": "2026-11-24T04:00:00Z",
            "finished": "2026-11-24T05:00:00Z", "wall_clock_s": 3600.0,
        },
        "notes": ["Adaptation steps < budget count as reached.", "Runs & seeds are pooled."],
    }


def _table_rows(markdown: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in markdown.splitlines() if line.startswith("|")]


def test_headline_markdown_columns(analysis):
    table = headline_markdown(analysis)
    lines = table.splitlines()
    assert lines[0] == "| metric | GRPO | MRFT | change | PPO |"
    rows = _table_rows(table)
    assert rows[2] == ["final return (IQM)", "0.73 [0.60, 0.81]", "0.06 [0.00, 0.12]", "-92%",
                       "0.50 [0.40, 0.60] (-31%)"]
    assert rows[3] == ["steps to 90% of GRPO", "2,000", "1,000", "-50%", "—"]


def test_headline_ablation_names_kept():
    table = headline_markdown({"baseline": "grpo", "focus": "mrft-in-context",
                               "methods": ["grpo", "mrft-in-context"], "headline": []})
    assert table.splitlines()[0] == "| metric | GRPO | mrft-in-context | change |"


def test_write_report_files_and_content(analysis, tmp_path):
    files = write_report(analysis, tmp_path)
    assert isinstance(files, ReportFiles)
    assert files.markdown == tmp_path / "report.md"
    assert files.html == tmp_path / "report.html"
    assert [p.name for p in files.plots] == list(PLOTS)
    for name in ("report.md", "report.html", *PLOTS):
        assert (tmp_path / name).is_file()
    for path in files.plots:
        assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    md = files.markdown.read_text()
    assert md.startswith("# Benchmark report: tiny")
    assert "| metric | GRPO | MRFT | change | PPO |" in md
    assert "## What the metrics mean" in md
    assert "- **final return (IQM)**: score at the end of adaptation" in md
    rows = {r[0]: r for r in _table_rows(md)}
    assert rows["toy:reach #0"][:4] == ["toy:reach #0", "success rate", "0.94 [0.8, 1.0]",
                                        "1,000 (2/2 reached)"]
    assert rows["toy:push #1"][4:] == ["—"] * 4
    for name in PLOTS:
        assert f"]({name})" in md
    assert "mean over held-out instances x seeds, band = 95% bootstrap CI of the mean" in md
    assert "mrft bench --suite tiny --seeds 2 --out results/tiny" in md
    assert "abc1234" in md and "Test CPU" in md
    assert "Adaptation steps < budget count as reached." in md

    page = files.html.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<table" in page
    assert "Adaptation steps &lt; budget count as reached." in page
    assert "Runs &amp; seeds are pooled." in page
    assert "steps < budget" not in page
    assert page.count("data:image/png;base64,") == 3
    assert "<pre><code>mrft bench --suite tiny" in page
    # a cell's intervals and short parentheses are kept on one line
    assert ('<td>0.50 <span class="nw">[0.40, 0.60]</span> <span class="nw">(-31%)</span></td>'
            in page)
    assert "toy:reach #0" in page


def test_html_puts_the_verdict_and_the_lead_plots_first_and_the_markdown_keeps_its_order(
        analysis, tmp_path):
    verdict = ["MRFT does not beat GRPO; it is worse on final return here (IQM 0.06 vs 0.73).",
               "A sentence without evidence."]
    files = write_report({**analysis, "verdict": verdict}, tmp_path)
    page = files.html.read_text()
    md = files.markdown.read_text()

    claim = "<li><strong>MRFT does not beat GRPO; it is worse on final return here</strong>"
    marks = ("<h1>", claim, "<li>A sentence without evidence.</li>", 'class="key"',
             'alt="Adaptation curves"', "<h2>Headline", "<h2>Per-task results", "<h2>Plots",
             'alt="Pre-training curves"')
    order = [page.index(mark) for mark in marks]
    assert order == sorted(order)
    assert page.count('alt="Adaptation curves"') == 1
    assert md.index("## Headline") < md.index(verdict[0]) < md.index("## Plots") < md.index(
        "![Adaptation curves](adaptation.png)")

    # the plots' colour for each method, a reference row's dashed as in the plots
    from mrft.bench.plots import hex_colours
    colours = hex_colours(analysis, ["grpo", "mrft", "ppo"])
    assert (f'<i style="border-top-color: {colours["grpo"]}; border-top-style: solid"></i>GRPO'
            in page)

    # wide tables scroll in their own box with the first column kept in view
    assert page.count('<div class="table-wrap">') == page.count("<table>")
    assert "position: sticky" in page
    # the per-task table: one column per method, the steps under the final score
    assert "<th>task (score)</th><th>GRPO</th><th>MRFT</th><th>PPO</th>" in page
    assert ('<td>0.94 <span class="nw">[0.8, 1.0]</span><br><span class="sub">1,000 '
            '<span class="nw">(2/2 reached)</span></span></td>') in page
    assert "| task | score | GRPO final | GRPO steps to target |" in md


def test_empty_curves_write_no_plots(analysis, tmp_path):
    (tmp_path / "intervals.png").write_bytes(b"stale")  # from an earlier report
    empty = copy.deepcopy(analysis)
    empty["curves"] = {"adaptation": [], "pretrain": []}
    empty["intervals"] = []
    files = write_report(empty, tmp_path)
    assert files.plots == []
    assert not list(tmp_path.glob("*.png"))
    md = files.markdown.read_text()
    page = files.html.read_text()
    for name in PLOTS:
        assert name not in md
    assert "data:image/png" not in page and "<img" not in page


def test_everything_empty(tmp_path):
    files = write_report({"suite": {"name": "void"}, "baseline": "grpo", "methods": []},
                         tmp_path)
    assert files.plots == []
    assert "# Benchmark report: void" in files.markdown.read_text()
    assert "<h1>Benchmark report: void</h1>" in files.html.read_text()


def test_report_files_are_readable_by_others(analysis, tmp_path):
    import stat

    files = write_report(analysis, tmp_path)
    for path in (files.markdown, files.html, *files.plots):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_curve_panels_share_one_legend_and_draw_reference_rows_dashed(monkeypatch):
    import matplotlib.pyplot as plt

    from mrft.bench import plots

    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig: figures.append(fig) or b"png")
    entry = {"steps": [0, 10], "mean": [0.1, 0.5], "low": [0.0, 0.4], "high": [0.2, 0.6], "runs": 3}
    panels = [{"env": f"toy:{i}", "metric": "return",
               "methods": {"grpo": entry, "mrft": entry, "oracle": entry}} for i in range(5)]
    order = ["grpo", "mrft", "oracle"]
    palette = plots.colours(order, "grpo", "mrft")
    assert plots._curve_plot(panels, order, palette, "steps", "metric") == b"png"
    axes = [ax for ax in figures[0].axes if ax.get_visible()]
    assert len(axes) == 6  # five panels in a 2 x 3 grid; the spare cell holds the only legend
    assert [ax.get_legend() is not None for ax in axes] == [False] * 5 + [True]
    assert [t.get_text() for t in axes[5].get_legend().get_texts()] == ["GRPO", "MRFT", "ORACLE"]
    assert [line.get_linestyle() for line in axes[0].get_lines()] == ["-", "-", "--"]
    assert axes[0].get_title() == "toy:0  (n=3)"

    # a full grid has no spare cell: one legend for the figure, below the panels
    plots._curve_plot(panels[:3], order, palette, "steps", "metric")
    assert all(ax.get_legend() is None for ax in figures[1].axes) and len(figures[1].legends) == 1
    for fig in figures:
        plt.close(fig)


def test_quality_headline_and_family_summary_for_a_readme(analysis):
    from mrft.bench.report import family_summary_markdown, quality_headline_markdown

    costly = copy.deepcopy(analysis)
    costly["headline"].append({"metric": "adaptation wall clock per run (s)",
                               "values": {"grpo": "1.0", "mrft": "2.0"}, "change": {}})
    table = quality_headline_markdown(costly)
    assert "final return (IQM)" in table and "wall clock" not in table

    rows = [{"env": "toy:reach", "score": "success rate", "method": m, "in_context": start,
             "final": final, "runs": 2}
            for m, start, final in (("grpo", "0.1 [0, 0.2]", "0.5 [0.4, 0.6]"),
                                    ("mrft", "0.3 [0.2, 0.4]", "0.7 [0.6, 0.8]"),
                                    ("oracle", "0.9 [0.8, 1]", "0.9 [0.8, 1]"))]
    summary = family_summary_markdown({**analysis, "methods": ["grpo", "mrft", "oracle"],
                                       "families": rows})
    assert summary.splitlines()[0] == "| family (score) | GRPO | MRFT | ORACLE |"
    # adapting methods: in context -> final [CI]; a reference row: its one score
    assert summary.splitlines()[2] == ("| toy:reach (success rate) | 0.1 -> 0.5 [0.4, 0.6] | "
                                       "0.3 -> 0.7 [0.6, 0.8] | 0.9 [0.8, 1] |")
    assert family_summary_markdown({**analysis, "families": []}) == ""


def test_colours_follow_the_roles_then_the_registry_then_the_reference_rows():
    import matplotlib.pyplot as plt

    from mrft import algos
    from mrft.bench.methods import reference_rows
    from mrft.bench.plots import colours

    tab10 = plt.get_cmap("tab10").colors
    others = [a for a in algos.REGISTRY if a not in ("grpo", "mrft")]
    fixed = ["grpo", "mrft", *others, *reference_rows()]
    palette = colours(["mrft-concat", *fixed], "grpo", "mrft")
    assert [palette[m] for m in fixed] == list(tab10[:len(fixed)])
    assert palette["mrft-concat"] == tab10[len(fixed)]  # an ablation takes the first spare colour
    # the baseline keeps the first colour whatever its name, the focus the second
    swapped = colours(["mrft", "grpo"], "mrft", "grpo")
    assert (swapped["mrft"], swapped["grpo"]) == (tab10[0], tab10[1])


def test_method_label_is_read_from_the_report():
    from mrft.bench.report import method_label

    assert method_label("grpo") == "GRPO" and method_label("rl2") == "RL2"
    assert method_label("mrft-in-context") == "mrft-in-context"


def test_headline_follows_the_analysis_baseline_and_focus(analysis):
    swapped = {**analysis, "baseline": "mrft", "focus": "grpo"}
    lines = headline_markdown(swapped).splitlines()
    assert lines[0] == "| metric | MRFT | GRPO | change | PPO |"
