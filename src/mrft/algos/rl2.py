"""RL2 (Duan et al. 2016): a recurrent actor-critic that adapts in context, trained with PPO
over whole trials (docs/rl2.md in the source repository).

A trial is K episodes on one task instance. The GRU state of
:class:`mrft.nets.RecurrentActorCritic` starts at zero when a trial starts and runs on
across its episodes, so in episode j the agent can use what it saw in episodes < j. For
learning, each trial is one sequence: its episodes' real steps joined in order.
:func:`trial_gae` runs GAE over that sequence *through* the episode boundaries inside it
(an episode end inside a trial is not a terminal: the next episode's first value follows
it); only the trial's end terminates or bootstraps. PPO's clipped surrogate and value loss
then train on minibatches of whole trials, recomputing the GRU over each from its zero
start, so a batch stores no hidden states.

Adaptation changes no weight (its update plans have no epochs): the held-out instance is played in
trials of K episodes with the memory carried across them, and the adapted policy that is
scored continues the memory of the latest adaptation trial, as that trial's last episode.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
from torch import nn

from mrft.algos.base import AlgoContext, Algorithm, Episodes, UpdatePlan, check
from mrft.algos.batching import shuffled_minibatches
from mrft.algos.ppo import ppo_loss
from mrft.algos.sequences import (
    episode_ends,
    gather_steps,
    previous,
    scaled_trial_rewards,
    trial_gae,
    trial_sequences,
)
from mrft.batches import Actor, EpisodeBatch
from mrft.nets import RecurrentActorCritic, build_recurrent_actor_critic
from mrft.normalize import RewardNormalizer


@dataclasses.dataclass
class RL2Config:
    """RL2 options (Duan et al. 2016; docs/rl2.md in the source repository): a GRU actor-critic
    whose memory runs across the episodes of a trial, trained with PPO over whole trials."""

    rl2_trial_episodes: int = 2
    """Episodes per trial (K) on one task instance; the GRU state is kept across them."""
    rl2_hidden_size: int = 256
    """Width of the GRU state (the agent's memory of the trial)."""
    rl2_gamma: float = 0.99
    """Discount factor, applied across the episode boundaries inside a trial."""
    rl2_gae_lambda: float = 0.95
    """GAE lambda over each trial's whole sequence."""
    rl2_update_epochs: int = 4
    """Passes over each batch of trials."""
    rl2_num_minibatches: int = 4
    """Minibatches per pass; each holds whole trials (the GRU is recomputed over them)."""
    rl2_clip_coef: float = 0.2
    """Clip range of the surrogate and of the value update."""
    rl2_ent_coef: float | None = None
    """Entropy bonus coefficient; when unset, the family preset: 0.01 discrete, 0.005 continuous."""
    rl2_vf_coef: float = 0.5
    """Value loss coefficient."""
    rl2_norm_adv: bool = True
    """Normalise advantages inside each minibatch."""
    rl2_normalize_reward: bool = True
    """Scale rewards by the running std of the discounted return over trials (for the
    advantages only; the GRU sees every raw reward on a symlog scale)."""


# -- acting ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Memory:
    """What the GRU carries from one step to the next, per env."""

    hidden: torch.Tensor
    """``[n, H]`` GRU state."""
    prev_action: torch.Tensor
    """``[n, A]`` the previous action as the GRU sees it (one-hot or clipped vector)."""
    prev_reward: torch.Tensor
    """``[n]`` raw previous reward."""
    prev_done: torch.Tensor
    """``[n]`` 1.0 when the previous step ended an episode."""

    @classmethod
    def zeros(cls, policy: RecurrentActorCritic, n: int, device: torch.device) -> Memory:
        return cls(policy.initial_state(n, device), torch.zeros(n, policy.action_dim, device=device),
                   torch.zeros(n, device=device), torch.zeros(n, device=device))

    def rows(self, n: int) -> Memory:
        """``n`` rows: row ``i`` is row ``i mod rows`` of this memory."""
        index = torch.arange(n, device=self.hidden.device) % self.hidden.shape[0]
        return Memory(*(getattr(self, f.name)[index] for f in dataclasses.fields(self)))

    def clone(self) -> Memory:
        return Memory(*(getattr(self, f.name).clone() for f in dataclasses.fields(self)))


class RecurrentActor(Actor):
    """Acts with each env's GRU memory: reset when a trial starts (to zeros, or to rows of a
    ``start`` memory), kept across the trial's episodes, advanced by every real step. One GRU
    step serves all envs at once.

    ``keep_at = j`` copies the memory as it is when episode ``j`` of a trial starts into
    :attr:`context` (the adapted state an evaluation continues from).
    """

    row_restarts = False
    """Its memory is not restarted per env: it plays whole trials of lockstep episodes."""

    def __init__(self, policy: RecurrentActorCritic, deterministic: bool = False,
                 start: Memory | None = None, keep_at: int | None = None):
        super().__init__(policy, deterministic)
        self.start = start
        self.keep_at = keep_at
        self.context: Memory | None = None
        self.memory: Memory | None = None
        self.episode = -1
        self._next_hidden: torch.Tensor | None = None

    def begin_trial(self, group_ids: torch.Tensor, env_rows: torch.Tensor) -> None:
        n = env_rows.shape[0]
        self.memory = (self.start.rows(n) if self.start is not None
                       else Memory.zeros(self.policy, n, env_rows.device))
        self.episode = -1

    def begin_episode(self) -> None:
        self.episode += 1
        if self.episode > 0:
            # also for an episode cut at --max-episode-steps, which the env did not end
            self.memory.prev_done = torch.ones_like(self.memory.prev_done)
        if self.episode == self.keep_at:
            self.context = self.memory.clone()

    def _forward(self, obs: torch.Tensor):
        m = self.memory
        x = self.policy.inputs(obs, m.prev_action, m.prev_reward, m.prev_done)
        hidden = self.policy.step(x, m.hidden)
        dist, value = self.policy.heads(hidden)
        return dist, value, hidden

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        dist, value, self._next_hidden = self._forward(obs)
        action = self.policy.sample(dist, self.deterministic)
        return action, self.policy.log_prob(dist, action), value

    @torch.no_grad()
    def observe(self, action: torch.Tensor, reward: torch.Tensor, stepped: torch.Tensor,
                done: torch.Tensor) -> None:
        m = self.memory
        rows = stepped[:, None]
        m.hidden = torch.where(rows, self._next_hidden.to(m.hidden.dtype), m.hidden)
        m.prev_action = torch.where(rows, self.policy.action_features(action), m.prev_action)
        m.prev_reward = torch.where(stepped, reward.to(m.prev_reward.dtype), m.prev_reward)
        m.prev_done = torch.where(stepped, done.to(m.prev_done.dtype), m.prev_done)

    @torch.no_grad()
    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """The value of ``obs`` as the next step of each env's trial (nothing is advanced)."""
        return self._forward(obs)[1]


# -- the algorithm --------------------------------------------------------------------------


class RL2(Algorithm):
    """PPO over whole trials with a recurrent actor-critic; adapts in context only."""

    name = "rl2"
    Config = RL2Config
    presets: ClassVar[dict] = {"images": {"rl2_ent_coef": 0.01}, "continuous": {"rl2_ent_coef": 0.005},
               "classic": {"rl2_ent_coef": 0.01}}
    summary = "a GRU actor-critic whose memory runs across a trial's episodes (Duan et al. 2016)"
    adapts_by = "RL2 by its memory alone, as RL2 is defined"

    @classmethod
    def validate_options(cls, r: RL2Config) -> None:
        check(r.rl2_trial_episodes >= 1, f"--rl2-trial-episodes must be >= 1, got {r.rl2_trial_episodes}")
        check(r.rl2_hidden_size >= 1, f"--rl2-hidden-size must be >= 1, got {r.rl2_hidden_size}")
        check(0 < r.rl2_gamma <= 1, f"--rl2-gamma must be in (0, 1], got {r.rl2_gamma}")
        check(0 <= r.rl2_gae_lambda <= 1, f"--rl2-gae-lambda must be in [0, 1], got {r.rl2_gae_lambda}")
        check(r.rl2_update_epochs >= 1, f"--rl2-update-epochs must be >= 1, got {r.rl2_update_epochs}")
        check(r.rl2_num_minibatches >= 1,
              f"--rl2-num-minibatches must be >= 1, got {r.rl2_num_minibatches}")
        check(r.rl2_clip_coef > 0, f"--rl2-clip-coef must be > 0, got {r.rl2_clip_coef}")
        check(r.rl2_ent_coef is None or r.rl2_ent_coef >= 0,
              f"--rl2-ent-coef must be >= 0, got {r.rl2_ent_coef}")
        check(r.rl2_vf_coef >= 0, f"--rl2-vf-coef must be >= 0, got {r.rl2_vf_coef}")

    @classmethod
    def adaptation_episodes_per_trial(cls, cfg) -> int:
        return int(cfg.rl2.rl2_trial_episodes)

    @classmethod
    def build_policy(cls, cfg, observation_space, action_space) -> nn.Module:
        run = cfg.run
        return build_recurrent_actor_critic(observation_space, action_space, run.torso,
                                            run.hidden_sizes, cfg.rl2.rl2_hidden_size,
                                            bool(run.normalize_obs))

    @classmethod
    def resolve(cls, cfg, num_train_tasks: int, default_envs: int):
        cfg = super().resolve(cfg, num_train_tasks, default_envs)
        check(cfg.rl2.rl2_num_minibatches <= cfg.env.num_envs,
              f"--rl2-num-minibatches {cfg.rl2.rl2_num_minibatches} exceeds --num-envs "
              f"{cfg.env.num_envs} (a minibatch holds whole trials, one per env)")
        return cfg

    @classmethod
    def checkpoint_evaluation(cls, cfg, policy: nn.Module, algo_state: dict,
                              source: str, deterministic: bool) -> tuple[Actor, int]:
        return RecurrentActor(policy, deterministic), cfg.rl2.rl2_trial_episodes

    def __init__(self, cfg, policy: RecurrentActorCritic, ctx: AlgoContext):
        super().__init__(cfg, policy, ctx)
        self.r = cfg.rl2
        self.trial_episodes = int(cfg.rl2.rl2_trial_episodes)
        self.reward_normalizer = None
        if cfg.rl2.rl2_normalize_reward and not ctx.adapting:
            self.reward_normalizer = RewardNormalizer(ctx.num_envs, cfg.rl2.rl2_gamma).to(ctx.device)
        self.actor = RecurrentActor(policy, keep_at=self.trial_episodes - 1 if ctx.adapting else None)

    # -- acting ---------------------------------------------------------------------------
    def collection(self) -> Episodes:
        """Every env plays its own trial of K episodes (a fresh instance each in pre-training,
        the held-out one when adapting); no groups: the critic is the baseline."""
        return Episodes(trial_episodes=self.trial_episodes, actor=self.actor)

    def state_modules(self) -> list[nn.Module]:
        extra = [self.reward_normalizer] if self.reward_normalizer is not None else []
        return [*self.modules(), *extra]

    def evaluation_actor(self, deterministic: bool) -> Actor:
        """The adapted policy: each evaluation episode continues the memory of the latest
        adaptation trial as it was when that trial's last episode started (env ``i`` takes
        the memory of adapting env ``i mod n``); before any adaptation, a fresh memory."""
        return RecurrentActor(self.policy, deterministic, start=self.actor.context)

    # -- learning -------------------------------------------------------------------------
    @torch.no_grad()
    def prepare(self, batch: EpisodeBatch) -> UpdatePlan:
        stats = episode_statistics(batch)
        if self.ctx.adapting:  # RL2 adapts by its memory alone: no weight changes
            return UpdatePlan({}, 0, stats)
        index, valid = trial_sequences(batch.mask)
        steps = {name: gather_steps(getattr(batch, name), index)
                 for name in ("obs", "actions", "logprobs", "rewards")}
        values = gather_steps(batch.values[:, :, :-1], index)
        ends = gather_steps(episode_ends(batch.mask), index) & valid
        # the last column of the last episode holds the value after each trial's last step
        advantages, returns = trial_gae(
            scaled_trial_rewards(self.reward_normalizer, steps["rewards"], valid), values, valid, batch.values[:, -1, -1],
            batch.terminated[:, -1], self.r.rl2_gamma, self.r.rl2_gae_lambda)
        data = {
            "obs": steps["obs"], "actions": steps["actions"], "logprobs": steps["logprobs"],
            "values": values, "advantages": advantages, "returns": returns, "mask": valid,
            "prev_action": previous(self.policy.action_features(steps["actions"])),
            "prev_reward": previous(steps["rewards"]), "prev_done": previous(ends.float()),
        }
        return UpdatePlan(data, int(self.r.rl2_update_epochs), stats)

    def minibatches(self, data: dict[str, torch.Tensor], generator: torch.Generator):
        """Minibatches of whole trials."""
        return shuffled_minibatches(data, self.r.rl2_num_minibatches, generator)

    def evaluate_trials(self, mb: dict[str, torch.Tensor]):
        """``log_prob, entropy, value`` ``[B, L]`` of the stored actions, the GRU recomputed
        over each trial from its zero start."""
        policy = self.policy
        x = policy.inputs(mb["obs"], mb["prev_action"], mb["prev_reward"], mb["prev_done"])
        dist, values = policy.heads(policy.unroll(x))
        return policy.log_prob(dist, mb["actions"]), policy.entropy(dist), values

    def loss(self, mb: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        r = self.r
        # the columns after this minibatch's longest trial are padding in every row
        length = max(int(mb["mask"].sum(1).max()), 1)
        mb = {k: v[:, :length] for k, v in mb.items()}
        logp, entropy, values = self.evaluate_trials(mb)
        valid = mb["mask"]
        return ppo_loss(logp[valid], mb["logprobs"][valid], entropy[valid], values[valid],
                        mb["values"][valid], mb["returns"][valid], mb["advantages"][valid],
                        clip=r.rl2_clip_coef, value_clip=r.rl2_clip_coef, ent_coef=r.rl2_ent_coef,
                        vf_coef=r.rl2_vf_coef, norm_adv=r.rl2_norm_adv)

    # -- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Pre-training: the reward scale; adapting: the memory the adapted policy continues."""
        state: dict = {}
        if self.reward_normalizer is not None:
            state["reward_normalizer"] = self.reward_normalizer.state_dict()
        if self.actor.context is not None:
            state["context"] = dataclasses.asdict(self.actor.context)
        return state

    def load_state_dict(self, state: dict) -> None:
        if self.reward_normalizer is not None and "reward_normalizer" in state:
            saved = state["reward_normalizer"]
            self.reward_normalizer.returns = torch.zeros_like(saved["returns"])
            self.reward_normalizer.load_state_dict(saved)
        if "context" in state:
            self.actor.context = Memory(**{k: v.to(self.ctx.device) for k, v in state["context"].items()})


def episode_statistics(batch: EpisodeBatch) -> dict[str, float]:
    """``rl2/return_episode_j`` (and ``rl2/success_episode_j``): the mean over trials of
    episode ``j``; a rise with ``j`` is the in-context adaptation."""
    stats = {}
    for j in range(batch.trial_episodes):
        stats[f"rl2/return_episode_{j}"] = float(batch.returns[:, j].mean())
        if batch.successes is not None:
            stats[f"rl2/success_episode_{j}"] = float(batch.successes[:, j].mean())
    return stats
