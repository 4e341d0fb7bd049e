"""Progressive policy distillation (mrft.distillation): each stage lowers its own loss, the
env-step budget is spent exactly, a stage switched off is skipped, and the export and the
adaptation option use it."""

import json

import pytest
import torch

from mrft import envs
from mrft.algos.base import Distillation, DistillConfig
from mrft.algos.mrft.belief_agent import BeliefAgent
from mrft.algos.mrft.export import BeliefDistillSource
from mrft.cli import main
from mrft.distillation import distill, parse_stages, policy_kl, stage_budgets
from mrft.episodes import EpisodeCollector
from mrft.errors import MrftError
from mrft.nets import build_actor_critic

SMALL = ["--hidden-sizes", 16, 16, "--tcn-channels", 8, "--tcn-levels", 2, "--meta-d-model", 16,
         "--meta-layers", 1, "--embed-dim", 8, "--no-progress"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Networks of 16 units gain nothing from intra-op threads, and lose much on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def instance():
    return envs.held_out_instance(envs.parse_env("nav:point"), 3)


@pytest.fixture(scope="module")
def source(instance):
    """A tiny MRFT teacher whose belief visibly changes the policy: the meta-policy's
    read-outs (zero at initialisation) are drawn at random."""
    torch.manual_seed(0)
    spaces = envs.task_spaces(instance[0])
    policy = build_actor_critic(spaces.observation_space, spaces.action_space, "auto", (16, 16), False)
    agent = BeliefAgent(policy, embed_dim=8, channels=8, levels=2, d_model=16, num_layers=1)
    with torch.no_grad():
        for name, p in agent.conditioner.named_parameters():
            if "out" in name:
                p.normal_(0.0, 0.05)
    return BeliefDistillSource(agent, policy, None)


def _distill(source, instance, steps, stages=("align", "kl", "search")):
    config = DistillConfig(steps, stages, learning_rate=1e-3, num_envs=4)
    return distill(Distillation(source, config), *instance, max_episode_steps=20, seed=1)


def test_each_stage_lowers_its_own_loss_and_the_teacher_is_left_alone(source, instance):
    teacher = {k: v.clone() for k, v in source.policy.state_dict().items()}
    result = _distill(source, instance, 400)
    stats = result.stats
    for stage in ("align", "kl", "search"):
        assert stats[f"{stage}/loss_after"] < stats[f"{stage}/loss_before"], (stage, stats)
    assert 0 < stats["search/kl"] <= 0.05
    assert all(torch.equal(v, source.policy.state_dict()[k]) for k, v in teacher.items())
    folded = dict(source.student().named_parameters())
    assert all(not torch.equal(p, folded[name]) for name, p in result.student.named_parameters()
               if name.startswith("actor_torso"))


def test_the_budget_is_spent_exactly_and_split_by_the_fractions(source, instance):
    assert stage_budgets(DistillConfig(1000)) == {"align": 250, "kl": 250, "search": 500}
    assert stage_budgets(DistillConfig(1000, ("align", "search"))) == {"align": 333, "search": 667}
    assert stage_budgets(DistillConfig(0)) == {}
    # 130 steps: whole 20-step episodes while a stage's share pays for one, then a cut episode
    result = _distill(source, instance, 130)
    assert result.env_steps == 130
    assert {k: v for k, v in result.stats.items() if k.endswith("env_steps")} == {
        "align/env_steps": 32, "kl/env_steps": 32, "search/env_steps": 66}


def test_switching_a_stage_off_skips_it(source, instance):
    result = _distill(source, instance, 90, ("align", "search"))
    assert result.env_steps == 90
    assert {k.split("/")[0] for k in result.stats} == {"align", "search"}
    assert parse_stages("search, align") == ("align", "search")
    with pytest.raises(MrftError, match="--distill-stages"):
        parse_stages("align,fold")
    # no stage, or no steps: the fold itself
    folded = _distill(source, instance, 0).student
    assert all(torch.equal(a, b) for a, b in zip(folded.state_dict().values(),
                                                 source.student().state_dict().values(), strict=True))


def test_teacher_targets_are_the_distributions_the_teacher_acted_from(source, instance):
    collector = EpisodeCollector((instance[0],), source.teacher_actor(), 2, 1, 1, 20, 0,
                                 torch.device("cpu"), instance=instance[1], update_normalizer=False)
    try:
        batch = collector.collect()
    finally:
        collector.close()
    dist, hidden = source.teacher_targets(batch)
    logp = dist.log_prob(batch.actions[batch.mask]).sum(-1)
    torch.testing.assert_close(logp, batch.logprobs[batch.mask], rtol=1e-4, atol=1e-4)
    assert [h.shape for h in hidden] == [(40, 16), (40, 16)]
    assert float(policy_kl(dist, dist)) == 0.0


def _run(*args) -> int:
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in args])
    return exit_.value.code


def test_adaptation_scores_the_distilled_student_at_its_last_point_and_export_writes_it(tmp_path):
    assert _run("train", "--algo", "mrft", "--env", "nav:point", "--total-steps", 160,
                "--num-envs", 4, "--runs-dir", tmp_path, "--run-name", "m", "--eval-episodes", 0,
                *SMALL) == 0
    out = tmp_path / "curve.json"
    assert _run("adapt", tmp_path / "m" / "checkpoint.pt", "--task", 3, "--steps", 160,
                "--eval-every", 80, "--eval-episodes", 4, "--distill-steps", 100, "--out", out) == 0
    curve = json.loads(out.read_text())["curve"]
    assert [p["step"] for p in curve] == [0, 80, 160]
    assert all("distilled/return" not in p for p in curve[:-1])
    last = curve[-1]
    assert {"return", "export/return", "distilled/return", "distilled/success"} <= set(last)
    assert last["distilled/env_steps"] == 100
    adapted = out.with_suffix("") / "checkpoint.pt"
    student = tmp_path / "s.pt"
    assert _run("export", adapted, "--distill-steps", 60, "--distill-stages", "kl,search",
                "--out", student) == 0
    record = torch.load(student, weights_only=True)["algo"]["folded"]
    assert record["distillation"]["env_steps"] == 60
    assert record["distillation"]["stages"] == ["kl", "search"]
    assert "align/env_steps" not in record["distillation"]
    assert _run("eval", student, "--episodes", 2) == 0
    assert _run("export", adapted, "--distill-steps", 60, "--distill-stages", "fold",
                "--out", tmp_path / "x.pt") == 2
