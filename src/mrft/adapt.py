"""Adaptation to one held-out task instance, with an evaluation curve.

Every method starts from its pre-trained checkpoint and spends ``steps`` env steps on one
task instance (a hidden Meta-World goal, a Procgen level, a nav goal), evaluating at
fixed points on fresh episodes of the same instance. All env steps count, including
the episodes a teacher plays during distillation.

- GRPO, PPO and MRFT ``--no-meta-learner`` checkpoints adapt with GRPO updates on groups
  of whole episodes from the instance.
- MRFT checkpoints adapt the teacher by context (the last ``trial_episodes - 1`` episodes
  of each env, as in meta-training) plus the inner loop; with distillation on, a plain
  student policy is distilled from the teacher (stages 1-2, teacher acting) and then
  fine-tuned under a KL bound (stage 3, student acting); without it, the teacher itself
  is fine-tuned with the GRPO surrogate. The evaluated policy is the teacher until the
  student reaches stage 3, then the student.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any

import torch

from mrft import envs
from mrft.algos.grpo import group_advantages, grpo_loss
from mrft.algos.mrft.algorithm import build_meta_learner
from mrft.algos.mrft.distill import DistillConfig, ProgressiveDistiller
from mrft.algos.mrft.meta_learner import MetaAgent
from mrft.algos.mrft.meta_policy import actor_forward, log_prob
from mrft.checkpoint import load_module_state
from mrft.config import TrainConfig
from mrft.episodes import EpisodeRun, run_episodes
from mrft.errors import MrftError
from mrft.evaluate import load_policy_and_state
from mrft.nets import ActorCritic
from mrft.trials import TrialRecord


@dataclasses.dataclass
class AdaptSettings:
    task: int = 0
    steps: int = 20_000
    eval_every: int = 2_000
    eval_episodes: int = 16
    num_envs: int | None = None
    learning_rate: float | None = None
    distill: bool | None = None
    seed: int = 1
    distill_stage_steps: tuple[int, int] | None = None


def held_out_instance(suite: envs.Suite, index: int) -> tuple[envs.Task, int]:
    """The ``index``-th held-out task instance: test task ``index % len(test)``, seed ``index``."""
    if index < 0:
        raise MrftError(f"--task must be >= 0, got {index}")
    return suite.test[index % len(suite.test)], index


def load_pretrained(checkpoint: str, device: torch.device):
    """Policy, meta-learner (MRFT only), config and suite of a training checkpoint."""
    policy, cfg, suite, state = load_policy_and_state(checkpoint)
    learner = None
    if cfg.algo == "mrft":
        learner = build_meta_learner(cfg.mrft, policy)
        if learner is not None:
            algo_state = state.get("algo", {})
            if "meta_learner" not in algo_state:
                raise MrftError(f"checkpoint {checkpoint} has no meta-learner weights")
            load_module_state(learner, algo_state["meta_learner"], checkpoint)
    return policy.to(device), (learner.to(device) if learner else None), cfg, suite, state


class _Adapter:
    """Shared machinery: instance envs, episode collection, evaluation, the update step."""

    def __init__(self, cfg: TrainConfig, policy: ActorCritic, task: envs.Task, instance: int,
                 settings: AdaptSettings, device: torch.device):
        self.cfg = cfg
        self.policy = policy
        self.task = task
        self.instance = instance
        self.settings = settings
        self.device = device
        self.num_envs = settings.num_envs or cfg.env.num_envs
        self.lr = settings.learning_rate or cfg.ppo.learning_rate
        self.env_steps = 0

    def run(self, act, n: int | None = None, policy: ActorCritic | None = None) -> EpisodeRun:
        """One episode on the instance in each of ``n`` envs; ``policy`` normalises observations."""
        n = n or self.num_envs
        env = envs.make_task_instances([self.task] * n, [self.instance] * n, self.settings.seed)
        try:
            return run_episodes(env, policy or self.policy, act, self.cfg.grpo.max_episode_steps,
                                self.device)
        finally:
            env.close()

    def evaluate(self, act, policy: ActorCritic | None = None) -> dict[str, float]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.settings.seed + 7)
            run = self.run(act, self.settings.eval_episodes, policy)
        result = {"return": float(run.returns.mean())}
        if run.success is not None:
            result["success"] = float(run.success.mean())
        return result

    def grpo_step(self, optimizer, params_fn, run: EpisodeRun, extra_loss=None,
                  policy: ActorCritic | None = None) -> None:
        """GRPO update on one group of episodes; ``params_fn()`` gives adapted params or None."""
        policy = policy or self.policy
        adv = group_advantages(torch.as_tensor(run.returns, dtype=torch.float32),
                               torch.zeros(run.returns.shape[0], dtype=torch.long),
                               self.cfg.grpo.scale_rewards).to(self.device)
        adv = adv[:, None].expand_as(run.logprobs)
        for _ in range(self.cfg.grpo.num_iterations):
            dist, _ = actor_forward(policy, run.obs, params_fn())
            logp = log_prob(policy, dist, run.actions)
            loss, _ = grpo_loss(logp, run.logprobs, None, adv, run.mask,
                                   epsilon_low=self.cfg.ppo.clip_coef,
                                   epsilon_high=self.cfg.grpo.epsilon_high, beta=0.0,
                                   loss_type=self.cfg.grpo.loss_type)
            if extra_loss is not None:
                loss = extra_loss(loss, dist)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]],
                                           self.cfg.ppo.max_grad_norm)
            optimizer.step()


def adapt(checkpoint: str, settings: AdaptSettings, progress: bool = False) -> dict[str, Any]:
    """Adapt a pre-trained checkpoint to one held-out instance; returns the curve record."""
    if settings.steps <= 0 or settings.eval_every <= 0 or settings.eval_episodes <= 0:
        raise MrftError("--steps, --eval-every and --eval-episodes must be > 0")
    device = torch.device("cpu")
    torch.manual_seed(settings.seed)
    policy, learner, cfg, suite, _ = load_pretrained(checkpoint, device)
    task, instance = held_out_instance(suite, settings.task)
    adapter = _Adapter(cfg, policy, task, instance, settings, device)
    distill = cfg.mrft.distill if settings.distill is None else settings.distill
    start = time.time()
    if learner is None:
        curve = _adapt_grpo(adapter)
        method = cfg.algo if cfg.algo != "mrft" else "mrft-no-meta-learner"
    else:
        curve = _adapt_meta(adapter, learner, distill)
        method = "mrft" if distill else "mrft-no-distill"
    return {
        "checkpoint": str(checkpoint), "method": method, "algo": cfg.algo, "suite": suite.name,
        "task": task.name, "instance": instance, "steps": settings.steps,
        "eval_every": settings.eval_every, "eval_episodes": settings.eval_episodes,
        "seed": settings.seed, "curve": curve, "wall_clock_s": time.time() - start,
        "mrft": dataclasses.asdict(cfg.mrft) if cfg.algo == "mrft" else None,
    }


def _plain_act(policy: ActorCritic):
    def act(obs):
        action, logprob, _ = policy.act(obs)
        return action, logprob
    return act


def _adapt_grpo(ad: _Adapter) -> list[dict[str, float]]:
    optimizer = torch.optim.Adam(ad.policy.parameters(), lr=ad.lr, eps=1e-5)
    act = _plain_act(ad.policy)
    curve = [{"step": 0, **ad.evaluate(act)}]
    next_eval = ad.settings.eval_every
    while ad.env_steps < ad.settings.steps:
        run = ad.run(act)
        ad.env_steps += run.env_steps
        ad.grpo_step(optimizer, lambda: None, run)
        if ad.env_steps >= next_eval or ad.env_steps >= ad.settings.steps:
            curve.append({"step": ad.env_steps, **ad.evaluate(act)})
            next_eval += ad.settings.eval_every
    return curve


def _adapt_meta(ad: _Adapter, learner, distill: bool) -> list[dict[str, float]]:
    cfg = ad.cfg
    m = cfg.mrft
    agent = MetaAgent(ad.policy, learner, m.inner_steps, m.inner_lr, cfg.ppo.clip_coef,
                      cfg.grpo.scale_rewards, m.inner_objective,
                      cfg.ppo.gamma or 0.99, cfg.ppo.gae_lambda)
    n = ad.num_envs
    history: list[EpisodeRun] = []
    group = torch.zeros(n, dtype=torch.long)
    memory = max(1, m.trial_episodes - 1)

    def teacher_act(obs):
        return agent.act(obs, teacher_params)

    def eval_teacher_act(obs):
        # evaluation episodes are fewer than the adapting envs: reuse the first sets
        k = obs.shape[0]
        return agent.act(obs, {key: v[:k] if v.shape[0] >= k else v[:1].expand(k, *v.shape[1:])
                               for key, v in teacher_params.items()})

    student = copy.deepcopy(ad.policy) if distill else None
    budgets = ad.settings.distill_stage_steps or m.distill_stage_steps
    if min(budgets) < 0:
        raise MrftError(f"--distill-stage-steps must be >= 0, got {budgets}")
    distiller = ProgressiveDistiller(DistillConfig(stage_steps=tuple(budgets),
                                                   delta=m.distill_delta)) if distill else None
    if distill:
        optimizer = torch.optim.Adam(student.parameters(), lr=ad.lr, eps=1e-5)
    else:
        optimizer = torch.optim.Adam([*ad.policy.parameters(), *learner.parameters()], lr=ad.lr, eps=1e-5)

    def teacher_now() -> dict[str, torch.Tensor]:
        with torch.enable_grad():
            params = _params_for(agent, history[-memory:], n, m, ad.device, group)
        return {k: v.detach() for k, v in params.items()}

    teacher_params = teacher_now()

    def current_eval():
        if distiller is not None and distiller.stage == 3:
            result = ad.evaluate(_plain_act(student), student)
        else:
            result = ad.evaluate(eval_teacher_act)
        if distiller is not None:
            result["distill/stage"] = distiller.stage
        return result

    curve = [{"step": 0, **current_eval()}]
    next_eval = ad.settings.eval_every
    epochs = cfg.ppo.update_epochs or 1
    while ad.env_steps < ad.settings.steps:
        if distiller is not None and distiller.stage == 3:
            prev = copy.deepcopy(student)
            run = ad.run(_plain_act(student), policy=student)
            ad.env_steps += run.env_steps
            with torch.no_grad():
                prev_dist, _ = actor_forward(prev, run.obs, None)
            kl_seen: list[float] = []

            def penalised(loss, dist, prev_dist=prev_dist, run=run, kl_seen=kl_seen):
                kl = torch.distributions.kl_divergence(prev_dist, dist)
                kl = kl.sum(-1) if student.continuous else kl
                out = distiller.loss(surrogate=loss, kl_prev=kl, mask=run.mask)
                kl_seen.append(float(out["distill/kl_prev"]))
                return out["loss"]

            ad.grpo_step(optimizer, lambda: None, run, extra_loss=penalised, policy=student)
            distiller.observe(run.env_steps, 0.0, kl_prev=kl_seen[-1])
        else:
            run = ad.run(teacher_act)
            ad.env_steps += run.env_steps
            if distiller is not None:
                with torch.no_grad():
                    t_dist, t_hidden = actor_forward(ad.policy, run.obs, teacher_params)
                stage_loss = 0.0
                for _ in range(epochs):
                    s_dist, s_hidden = actor_forward(student, run.obs, None)
                    out = distiller.loss(student_feats=s_hidden, teacher_feats=t_hidden,
                                         student_dist=s_dist, teacher_dist=t_dist, mask=run.mask)
                    optimizer.zero_grad(set_to_none=True)
                    out["loss"].backward()
                    torch.nn.utils.clip_grad_norm_(student.parameters(), cfg.ppo.max_grad_norm)
                    optimizer.step()
                    stage_loss = float(next(v for k, v in out.items() if k != "loss"))
                distiller.observe(run.env_steps, stage_loss)
            else:
                saved = history[-memory:]
                ad.grpo_step(optimizer, lambda saved=saved: _params_for(agent, saved, n, m, ad.device, group), run)
            history.append(run)
            teacher_params = teacher_now()
        if ad.env_steps >= next_eval or ad.env_steps >= ad.settings.steps:
            curve.append({"step": ad.env_steps, **current_eval()})
            next_eval += ad.settings.eval_every
    return curve


def _params_for(agent: MetaAgent, runs: list[EpisodeRun], n: int, m, device, group):
    """Teacher parameters from the given episodes: context window, then the inner loop."""
    record = TrialRecord(n, m.context_length, agent.context_dim, device)
    for run in runs:
        record.add(run, agent.context_features(run))
    contexts, lengths = record.window()
    support = agent.support_from_runs(record.runs, group) if record.runs else None
    return agent.adapted_params(contexts, lengths, support)


def evaluate_trials(policy: ActorCritic, learner, cfg: TrainConfig, tasks, episodes: int,
                    seed: int, device: torch.device | None = None) -> dict[str, list[float]]:
    """MRFT's own evaluation: ``episodes`` trials of ``trial_episodes`` episodes on fresh
    instances of ``tasks``; the last episode of each trial (the one that had the whole
    context) is what counts. Returns per-trial returns and successes of every episode."""
    from mrft.trials import TrialCollector

    device = device or torch.device("cpu")
    m = cfg.mrft
    agent = MetaAgent(policy, learner, m.inner_steps, m.inner_lr, cfg.ppo.clip_coef,
                      cfg.grpo.scale_rewards, m.inner_objective, cfg.ppo.gamma or 0.99,
                      cfg.ppo.gae_lambda)
    group = cfg.grpo.group_size
    collector = TrialCollector(tasks, agent, -(-episodes // group) * group, group, m.trial_episodes,
                               m.context_length, cfg.grpo.max_episode_steps, seed, device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        batch = collector.collect()
    return {"returns": batch.returns.tolist(),
            "successes": batch.successes.tolist() if batch.successes is not None else None}


def summarize(record: dict[str, Any]) -> str:
    last = record["curve"][-1]
    text = f"{record['method']} on {record['task']} instance {record['instance']}: "
    text += f"return {record['curve'][0]['return']:.2f} -> {last['return']:.2f}"
    if "success" in last:
        text += f", success {record['curve'][0]['success']:.2f} -> {last['success']:.2f}"
    return text + f" after {last['step']:,} steps"

