"""Suites as data: the built-ins load, a user's TOML file is checked field by field, and the
options land in the right place of each method's training config."""

from pathlib import Path

import pytest

from mrft.bench.methods import METHODS, parse_methods, report_order
from mrft.bench.suite import BUILTIN, load_suite, parse_suite
from mrft.errors import MrftError

GOOD = """
name = "mine"
description = "a test suite"
seeds = 2
[budget]
pretrain_steps = 1000
adapt_steps = 200
eval_every = 100
[[tasks]]
env = "nav:point"
instances = 2
[[tasks]]
env = "bandit:arms3"
[train]
grpo.group_size = 4
run.hidden_sizes = [32, 32]
mrft.trial_episodes = 3
[methods.mrft]
mrft.belief_coef = 2
optim.learning_rate = 1e-3
"""


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_suites_load(name):
    suite = load_suite(name)
    assert suite.name == name and suite.tasks and suite.source == f"builtin:{name}"
    assert suite.budget.eval_every <= suite.budget.adapt_steps


def test_user_suite_fields_and_defaults():
    suite = parse_suite(GOOD, "mine.toml")
    assert suite.seeds == 2 and [t.env for t in suite.tasks] == ["nav:point", "bandit:arms3"]
    assert suite.tasks[1].instances == 3  # default
    assert suite.budget.eval_episodes == 16 and suite.budget.adapt_steps == 200
    assert suite.methods["mrft"]["mrft"]["belief_coef"] == 2.0  # an integer is accepted as a float


def test_options_reach_each_methods_training_config():
    suite = parse_suite(GOOD, "mine.toml")
    family = suite.tasks[0]
    grpo = suite.train_config(family, METHODS["grpo"], 7, "/tmp/runs", "r")
    mrft = suite.train_config(family, METHODS["mrft"], 7, "/tmp/runs", "r")
    ablation = suite.train_config(family, METHODS["mrft-no-grad-mod"], 7, "/tmp/runs", "r")
    assert grpo.algo == "grpo" and grpo.grpo.group_size == 4 and grpo.run.hidden_sizes == (32, 32)
    assert grpo.mrft.belief_coef == 1.0 and grpo.optim.learning_rate is None  # method options stay put
    assert mrft.mrft.belief_coef == 2.0 and mrft.optim.learning_rate == 1e-3
    assert mrft.mrft.trial_episodes == 3
    assert not ablation.mrft.grad_mod and ablation.mrft.belief_coef == 1.0
    for cfg in (grpo, mrft):
        assert cfg.env.env == "nav:point" and cfg.run.total_steps == 1000 and cfg.run.seed == 7
        assert not cfg.run.progress


@pytest.mark.parametrize("text, message", [
    ("name = ", "not valid TOML"),
    ('[[tasks]]\nenv = "nav:point"', "name: missing"),
    ('name = "x"', "tasks: need at least one"),
    ('name = 3\n[[tasks]]\nenv = "nav:point"', "name: expected str"),
    ('name = "x"\nbudgets = 1\n[[tasks]]\nenv = "nav:point"', "budgets: unknown field"),
    ('name = "x"\n[budget]\nadapt_steps = -5\n[[tasks]]\nenv = "nav:point"',
     "budget.adapt_steps: must be > 0"),
    ('name = "x"\n[budget]\nadapt_steps = 10\neval_every = 20\n[[tasks]]\nenv = "nav:point"',
     "budget.eval_every (20) must be <="),
    ('name = "x"\n[budget]\npretrain_step = 10\n[[tasks]]\nenv = "nav:point"',
     "budget.pretrain_step: unknown field"),
    ('name = "x"\n[[tasks]]\ninstances = 2', "tasks[0].env: missing"),
    ('name = "x"\n[[tasks]]\nenv = "atari:pong"', "tasks[0].env: unknown env family"),
    ('name = "x"\n[[tasks]]\nenv = "nav:point"\ninstances = "3"', "tasks[0].instances: expected int"),
    ('name = "x"\n[[tasks]]\nenv = "nav:point"\n[train]\ngrpo.grop_size = 4',
     "train.grpo.grop_size: unknown option"),
    ('name = "x"\n[[tasks]]\nenv = "nav:point"\n[train]\ngrpo.group_size = 2.5',
     "train.grpo.group_size: expected an integer"),
    ('name = "x"\n[[tasks]]\nenv = "nav:point"\n[train]\ngrpo.loss_type = "nope"',
     "train.grpo.loss_type: 'nope' is not one of"),
    ('name = "x"\n[[tasks]]\nenv = "nav:point"\n[train]\nrun.seed = 3',
     "train.run.seed: set by the benchmark"),
    ('name = "x"\n[[tasks]]\nenv = "nav:point"\n[train]\noptimizer.lr = 3',
     "train.optimizer: unknown section"),
    ('name = "x"\n[[tasks]]\nenv = "nav:point"\n[methods.sac]\nppo.learning_rate = 1.0',
     "methods.sac: unknown method"),
    ('name = "x"\n[[tasks]]\nenv = "nav:point"\n[methods.context-free]\noptim.learning_rate = 1.0',
     "methods.context-free: this method adapts ppo's pre-trained checkpoint"),
    ('name = "x"\n[[tasks]]\nenv = "nav:point"\n[train]\nrun.hidden_sizes = 64',
     "train.run.hidden_sizes: expected a list"),
    ('name = "x"\n[[tasks]]\nenv = "nav:point"\n[train]\noptim.learning_rate = -1.0',
     "train.optim.learning_rate must be > 0, got -1.0"),
    ('name = "x"\n[[tasks]]\nenv = "nav:point"\n[methods.grpo]\ngrpo.group_size = 1',
     "methods.grpo.grpo.group_size must be >= 2"),
    ('name = "x"\n[[tasks]]\nenv = "nav:point"\n[train]\nppo.gamma = nan',
     "train.ppo.gamma must be a finite number"),
])
def test_malformed_suite_is_one_line_naming_the_field(text, message):
    with pytest.raises(MrftError) as info:
        parse_suite(text, "bad.toml")
    text = str(info.value)
    assert text.startswith("bad.toml: ") and message in text and "\n" not in text


def test_suite_lookup_errors(tmp_path):
    with pytest.raises(MrftError, match="unknown suite 'nope'"):
        load_suite("nope")
    with pytest.raises(MrftError, match="does not exist"):
        load_suite(str(tmp_path / "missing.toml"))


def test_method_list_parsing_and_report_order():
    assert parse_methods("ppo, mrft,grpo,ppo") == ["ppo", "mrft", "grpo"]
    assert report_order(["ppo", "mrft", "grpo"]) == ["grpo", "mrft", "ppo"]
    with pytest.raises(MrftError, match="unknown method 'sac'"):
        parse_methods("grpo,sac")
    with pytest.raises(MrftError, match="empty"):
        parse_methods(" , ")


@pytest.mark.parametrize("path", sorted(
    (Path(__file__).parent.parent / "benchmarks" / "suites").glob("*.toml")), ids=lambda p: p.name)
def test_study_suites_load(path):
    suite = load_suite(str(path))
    assert suite.tasks and suite.budget.adapt_steps > 0


def test_absurd_sizes_and_non_text_files_are_one_line_errors(tmp_path):
    import time

    start = time.perf_counter()
    with pytest.raises(MrftError, match=r"tasks\[0\]\.instances: must be <= 1,000"):
        parse_suite('name = "x"\n[[tasks]]\nenv = "nav:point"\ninstances = 1000000000', "big.toml")
    with pytest.raises(MrftError, match="seeds: must be <= 100"):
        parse_suite('name = "x"\nseeds = 5000\n[[tasks]]\nenv = "nav:point"', "big.toml")
    assert time.perf_counter() - start < 5
    binary = tmp_path / "binary.toml"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(MrftError) as info:
        load_suite(str(binary))
    assert "not a UTF-8 text file" in str(info.value) and "\n" not in str(info.value)
    latin = tmp_path / "latin.toml"
    latin.write_bytes('name = "caf\u00e9"'.encode("latin-1"))
    with pytest.raises(MrftError, match="not a UTF-8 text file"):
        load_suite(str(latin))



def test_a_family_may_have_its_own_pretraining_budget(tmp_path):
    from mrft.bench.methods import METHODS
    from mrft.bench.suite import parse_suite

    suite = parse_suite('name = "t"\n[budget]\npretrain_steps = 5000\n'
                        '[[tasks]]\nenv = "nav:point"\n'
                        '[[tasks]]\nenv = "bandit:arms3"\npretrain_steps = 500\n', "t.toml")
    nav, bandit = suite.tasks
    assert nav.pretrain_steps is None and bandit.pretrain_steps == 500
    assert suite.train_config(nav, METHODS["ppo"], 1, "r", "n").run.total_steps == 5000
    assert suite.train_config(bandit, METHODS["ppo"], 1, "r", "n").run.total_steps == 500
    with pytest.raises(MrftError, match="pretrain_steps: must be > 0"):
        parse_suite('name = "t"\n[[tasks]]\nenv = "nav:point"\npretrain_steps = 0\n', "t.toml")


def test_the_suite_option_names_every_built_in_suite():
    """`mrft bench --help` lists the built-in suites by hand; a new suite file must join it."""
    import inspect
    import re

    from mrft import cli_options
    source = inspect.getsource(cli_options.BenchConfig)
    doc = source.split('suite: str = "demo"', 1)[1].split('"""')[1]
    listed = set(re.findall(r"[a-z][a-z0-9-]*", doc.split("(", 1)[1].split(";", 1)[0]))
    assert set(BUILTIN) == listed, set(BUILTIN) ^ listed
