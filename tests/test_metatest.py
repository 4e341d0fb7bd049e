"""Meta-World's official meta-test protocol on hand-made episodes, and where Farama's helper
counts differently."""

import dataclasses

import numpy as np
import pytest
import torch
from conftest import CountdownVecEnv

from mrft.bench.suite import parse_suite
from mrft.episodes import Actor, play_episode
from mrft.errors import MrftError
from mrft.metatest import MetaTestProtocol, adaptation_plan, meta_test_success
from mrft.nets import ActorCritic


class FlaggedCountdownVecEnv(CountdownVecEnv):
    """CountdownVecEnv whose env ``i`` raises the success flag ``flags[i][t]`` at step
    ``t + 1`` of its episode, and 1 on the auto-reset step after its episode ended (a step
    that belongs to no episode, so it must not count)."""

    def __init__(self, flags):
        super().__init__([len(f) for f in flags])
        self.flags = flags

    def step(self, actions):
        t, ended = self.t.copy(), self.ended.copy()
        result = super().step(actions)
        success = [1.0 if ended[i] else float(self.flags[i][t[i]]) for i in range(self.num_envs)]
        return dataclasses.replace(result, success=np.asarray(success, dtype=np.float32))


def successes(flags):
    """What scoring counts for episodes with these success flags: each env's one episode, as
    evaluation plays it (:func:`mrft.episodes.play_episode`)."""
    env = FlaggedCountdownVecEnv(flags)
    policy = ActorCritic(env.observation_space, env.action_space, "mlp", (8,))
    run = play_episode(env, Actor(policy), 100, torch.device("cpu"), update_normalizer=False)
    return run.success.tolist()


def test_an_episode_succeeds_if_any_step_succeeds():
    # the flag fell back after a success: still a success; env 2 ends first, and the flag
    # on its auto-reset step, while the others play on, counts for nothing
    assert successes([[0, 1, 0], [0, 0, 0], [0, 0], [0, 0, 1]]) == [1.0, 0.0, 0.0, 1.0]
    assert successes([[1], [0]]) == [1.0, 0.0]


def test_per_goal_then_per_class_then_the_mean_over_classes():
    # class A: goal 1 succeeds in 2 of its 3 evaluation episodes, goal 2 in 1 of 3
    a1 = np.mean(successes([[0, 1, 0], [0, 0, 0], [1, 1, 1]]))
    a2 = np.mean(successes([[0, 0, 0], [0, 0, 1], [0, 0, 0]]))
    # class B: one goal, never
    b1 = np.mean(successes([[0, 0], [0, 0], [0, 0]]))
    assert (a1, a2, b1) == (pytest.approx(2 / 3), pytest.approx(1 / 3), 0.0)
    result = meta_test_success({"a-v3": [a1, a2], "b-v3": [b1]})
    assert result["per_class"] == {"a-v3": pytest.approx(0.5), "b-v3": 0.0}
    # each class weighs the same whatever its number of goals: (0.5 + 0) / 2, not 3/9 pooled
    assert result["mean"] == pytest.approx(0.25)
    assert result["goals"] == {"a-v3": 2, "b-v3": 1}
    with pytest.raises(ValueError):
        meta_test_success({"a-v3": []})


class ScriptedEvalEnvs:
    """Two envs of one class in Farama's vector-env interface: env 0 succeeds at its first
    step (and, with terminate-on-success, ends there), env 1 never succeeds and truncates
    after five steps."""

    num_envs = 2

    def __init__(self, class_name):
        self.class_name = class_name
        self.t = np.zeros(2, dtype=int)

    def get_attr(self, name):
        return [True, True] if name == "terminate_on_success" else [self.class_name] * 2

    def call(self, *args):
        return None

    def reset(self):
        self.t[:] = 0
        return np.zeros((2, 39)), {}

    def step(self, actions):
        self.t += 1
        success = np.array([1.0, 0.0])
        terminated = np.array([True, False])
        truncated = np.array([False, self.t[1] >= 5])
        ended = terminated | truncated
        self.t[ended] = 0
        info = {"final_info": {"episode": {"r": np.array([10.0, 0.0])}, "success": success}}
        return np.zeros((2, 39)), np.zeros(2), terminated, truncated, info


class ModeAgent:
    def eval_action(self, obs):
        return np.zeros((len(obs), 4))

    def reset(self, mask):
        pass


def test_farama_helper_counts_early_finishers_first_ours_counts_each_goal_once():
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS
    from metaworld.evaluation import evaluation

    envs = ScriptedEvalEnvs(ALL_V3_ENVIRONMENTS["reach-v3"].__name__)
    farama_success, *_ = evaluation(ModeAgent(), envs, num_episodes=3)
    # the env that succeeds at once finishes three episodes before the other finishes one,
    # and those three fill the class's count
    assert farama_success == 1.0
    # the same episodes as scoring here plays them: each goal's three counted once
    ours = meta_test_success({"reach-v3": [np.mean(successes([[1]] * 3)),
                                           np.mean(successes([[0] * 5] * 3))]})
    assert ours["mean"] == 0.5


def test_the_adaptation_budget_is_whole_episodes_in_one_env_or_one_group():
    protocol = MetaTestProtocol()
    assert (protocol.adaptation_episodes, protocol.evaluation_episodes) == (10, 3)
    one_env = adaptation_plan(protocol, adapts_in_groups=False, horizon=500)
    group = adaptation_plan(protocol, adapts_in_groups=True, horizon=500)
    assert (one_env.steps, one_env.num_envs, one_env.eval_every, one_env.eval_episodes) == (5000, 1, 5000, 3)
    assert (group.steps, group.num_envs) == (5000, 10)
    with pytest.raises(MrftError, match="500 steps"):
        adaptation_plan(protocol, False, horizon=200)
    one = MetaTestProtocol(adaptation_episodes=1)
    assert adaptation_plan(one, False, horizon=500).steps == 500
    with pytest.raises(MrftError, match=r"adapts on a group of episodes.*--adaptation-episodes 2"):
        adaptation_plan(one, True, horizon=500)  # a group of one has no relative advantage
    with pytest.raises(MrftError):
        MetaTestProtocol(adaptation_episodes=0)
    with pytest.raises(MrftError):
        MetaTestProtocol(name="procgen")


SUITE = """
name = "official"
[budget]
pretrain_steps = 1000
{budget}
[[tasks]]
env = "{env}"
instances = 2
[protocol]
adaptation_episodes = 4
evaluation_episodes = 2
"""


def test_a_suite_protocol_sets_the_adaptation_budget_and_refuses_a_clash():
    suite = parse_suite(SUITE.format(budget="", env="metaworld-official:ML1-reach"), "s.toml")
    b = suite.budget
    assert suite.protocol == MetaTestProtocol("official", 4, 2)
    assert (b.adapt_steps, b.eval_every, b.eval_episodes) == (2000, 2000, 2)
    with pytest.raises(MrftError, match=r"budget\.adapt_steps follows from"):
        parse_suite(SUITE.format(budget="adapt_steps = 100", env="metaworld-official:ML1-reach"), "s.toml")
    # only a meta-learning benchmark's own held-out tasks are scored by its protocol: not
    # another family, not the envpool Meta-World family, whose goals are its RNG's draws, and
    # not a multi-task benchmark, whose test tasks are its train tasks
    for env, why in (("nav:point", "this family is nav"), ("metaworld:ML1-reach", "this family is metaworld"),
                     ("metaworld-official:MT10", "MT10 and MT50 test on the tasks they train on")):
        with pytest.raises(MrftError, match=f"only metaworld-official:ML1-TASK, ML10 and ML45 play; {why}"):
            parse_suite(SUITE.format(budget="", env=env), "s.toml")


OFFICIAL_BENCH = """
name = "official-smoke"
seeds = 1
[budget]
pretrain_steps = 512
[[tasks]]
env = "metaworld-official:ML1-reach"
instances = 1
[train]
env.num_envs = 4
grpo.group_size = 2
run.hidden_sizes = [16, 16]
run.threads = 1
[protocol]
adaptation_episodes = 2
evaluation_episodes = 1
"""


@pytest.mark.long
def test_a_bench_scores_by_the_protocol_each_method_in_its_own_way(tmp_path):
    """GRPO adapts in one group of the adaptation episodes; PPO on them one after another in
    one env, an update per episode; MRFT in one env, in context and by updates on chunks of
    its rollout length (256 steps, a chunk ending where an episode ends: two per 500-step
    episode); RL2 in context only; the oracle and the context-free policy not at all. The
    report gives the protocol's figure per method."""
    import json

    from mrft.cli import main

    suite = tmp_path / "official.toml"
    suite.write_text(OFFICIAL_BENCH)
    out = tmp_path / "out"
    methods = ("grpo", "ppo", "rl2", "mrft", "oracle", "context-free")
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--suite", str(suite), "--methods", ",".join(methods), "--out", str(out)])
    assert exit_info.value.code == 0
    # method: (envs, updates, whether it takes optimiser steps); 2 adaptation episodes
    expected = {"grpo": (2, 1, True), "ppo": (1, 2, True), "mrft": (1, 4, True),
                "rl2": (1, None, False), "oracle": (1, None, False), "context-free": (1, None, False)}
    for method, (envs, updates, learns) in expected.items():
        record = json.loads((out / "runs" / "metaworld-official_ML1-reach" / method / "seed1" / "adapt"
                             / "instance0.json").read_text())
        assert record["num_envs"] == envs and record["adapt_env_steps"] == 1000, method
        assert (record["optimizer_steps"] > 0) == learns, method
        assert updates is None or record["updates"] == updates, method
        assert [p["step"] for p in record["curve"]] == [0, 1000]
        if method == "mrft":  # its updates end where each 500-step episode ends
            log = out / record["run_dir"] / "metrics.jsonl"  # run_dir: relative to the bench
            steps = [row["step"] for row in map(json.loads, log.read_text().splitlines())
                     if "mrft/adapt_steps" in row]
            assert steps == [256, 500, 756, 1000]
        # before and after count the same policy: the most likely action at both points
        assert all("deterministic/success" in point for point in record["curve"])
    analysis = json.loads((out / "analysis.json").read_text())
    rows = {r["method"]: r for r in analysis["meta_test"]["rows"]}
    assert set(rows) == set(methods) and rows["ppo"]["goals"] == {"reach-v3": 1}
    report = (out / "report.md").read_text()
    # the protocol's table leads: it is the figure set beside published ones
    assert 0 < report.index("## Meta-test success (official protocol") < report.index("## Headline")
    html = (out / "report.html").read_text()
    assert html.index("Meta-test success (official protocol") < html.index(">Headline<")


def test_a_bench_refuses_grpo_one_adaptation_episode_before_any_run(tmp_path, capsys):
    from mrft.cli import main

    suite = tmp_path / "official.toml"
    suite.write_text(OFFICIAL_BENCH.replace("adaptation_episodes = 2", "adaptation_episodes = 1"))
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--suite", str(suite), "--methods", "ppo,grpo", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and not (tmp_path / "out" / "runs").exists()
    assert capsys.readouterr().err.strip().endswith(
        "method grpo adapts on a group of episodes, and the protocol gives 1 adaptation episode; "
        "set the suite's [protocol] adaptation_episodes >= 2")


def _tiny_checkpoint(tmp_path, name: str, *flags: str, env: str = "metaworld-official:ML1-reach",
                     algo: str = "ppo"):
    """A checkpoint trained for 256 steps with a 16x16 network, for the protocol to score or
    refuse."""
    from mrft.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--env", env, "--algo", algo, "--total-steps", "256", "--hidden-sizes", "16",
              "16", *flags, "--runs-dir", str(tmp_path), "--run-name", name, "--no-progress"])
    return tmp_path / name / "checkpoint.pt"


def _refused_eval(capsys, checkpoint, *flags: str) -> str:
    """``mrft eval CHECKPOINT --protocol official --goals 1 FLAGS``'s error output; the command
    must fail."""
    from mrft.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", str(checkpoint), "--protocol", "official", "--goals", "1", *flags])
    assert exit_info.value.code != 0
    return capsys.readouterr().err


def test_eval_scores_a_checkpoint_by_the_protocol_and_continues_where_it_stopped(tmp_path, capsys):
    import json

    from mrft.cli import main

    checkpoint = _tiny_checkpoint(tmp_path, "r", "--num-envs", "2")
    argv = ["eval", str(checkpoint), "--protocol", "official", "--goals", "2",
            "--adaptation-episodes", "1", "--evaluation-episodes", "1",
            "--json-out", str(tmp_path / "m.json")]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert "meta-test success (mean over 1 class): " in capsys.readouterr().out
    result = json.loads((tmp_path / "m.json").read_text())
    assert result["goals"] == {"reach-v3": 2} and 0.0 <= result["mean"] <= 1.0
    runs = sorted((tmp_path / "r" / "metatest").glob("*/task*"))
    assert [r.name for r in runs] == ["task0", "task1"]
    with pytest.raises(SystemExit):  # again: every test task is found finished, nothing is redone
        main(argv)
    assert json.loads((tmp_path / "m.json").read_text()) == result
    with pytest.raises(SystemExit) as exit_info:
        main([*argv[:4], "--goals", "51"])
    assert exit_info.value.code != 0


def test_a_checkpoint_that_cuts_episodes_short_is_refused(tmp_path, capsys):
    """Episodes cut at 200 steps would have fewer steps in which to succeed and would fit more
    episodes into the protocol's budget: the figure would not be the official one."""
    checkpoint = _tiny_checkpoint(tmp_path, "short", "--num-envs", "2", "--max-episode-steps", "200")
    err = _refused_eval(capsys, checkpoint, "--adaptation-episodes", "1", "--evaluation-episodes", "1")
    assert "error: the official meta-test protocol plays episodes of 500 steps; this checkpoint cuts " \
           "them at 200" in err


def test_rl2_adapting_in_trials_that_do_not_divide_the_episodes_is_refused(tmp_path, capsys):
    """RL2 plays its adaptation in whole trials of K episodes: with K = 3, four adaptation
    episodes would be one trial, three episodes, and the protocol's figure not the official one."""
    checkpoint = _tiny_checkpoint(tmp_path, "rl2", "--num-envs", "1", "--rl2-num-minibatches", "1",
                                  "--rl2-trial-episodes", "3", algo="rl2")
    err = _refused_eval(capsys, checkpoint, "--adaptation-episodes", "4", "--evaluation-episodes", "1")
    assert err == ("error: rl2 adapts in trials of 3 episodes, which do not divide the protocol's 4 "
                   "adaptation episodes; choose --adaptation-episodes as a multiple of 3\n")


def test_eval_refuses_a_checkpoint_of_a_family_without_the_benchmarks_test_tasks(tmp_path, capsys):
    checkpoint = _tiny_checkpoint(tmp_path, "nav", "--num-envs", "2", env="nav:point")
    err = _refused_eval(capsys, checkpoint)
    assert not (tmp_path / "nav" / "metatest").exists()
    assert err.startswith("error: ") and err.strip().endswith("this family is nav"), err
