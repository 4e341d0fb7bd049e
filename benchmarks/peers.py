"""mrft's training loop against its peers and against the env's own speed, in one run.

Three comparisons, each side in a fresh process (``--side NAME``, started by this script),
interleaved and repeated so that drifting load on a shared machine falls on all alike;
the table gives each side's median and the ratios of the medians.

1. **PPO on Meta-World reach (goal visible), Stable-Baselines3 vs mrft, the same settings**:
   8 envs x 256 steps per update, 8 minibatches of 256, 10 epochs, an MLP of 256 x 256
   tanh for actor and critic, observation and reward normalisation, learning rate 3e-4
   (not annealed), gamma 0.99, GAE lambda 0.95. The peer is ``PPO("MlpPolicy",
   n_steps=256, batch_size=256, n_epochs=10, learning_rate=3e-4, gamma=0.99,
   gae_lambda=0.95, policy_kwargs=dict(net_arch=dict(pi=[256, 256], vf=[256, 256]),
   activation_fn=Tanh))`` on mrft's own vector env (``MrftSB3VecEnv``) inside
   ``VecMonitor`` and ``VecNormalize``; mrft's side is ``mrft train --env metaworld:reach
   --num-envs 8 --num-steps 256 --num-minibatches 8 --update-epochs 10 --hidden-sizes 256
   256 --no-anneal-lr``. Figure: env steps per second of the whole loop.
2. **mrft at its family defaults vs envpool's raw stepping**: PPO on ``metaworld:reach``
   with nothing set (16 envs, the continuous preset) against the same env pool stepped
   with random actions and no policy, the ceiling a loop can approach.
3. **Procgen, one update at fp32**: mrft's PPO at its Procgen defaults (64 envs x 256
   steps, IMPALA CNN, 8 minibatches, 3 epochs) against CleanRL ``ppo_procgen.py``'s
   network and update reproduced here from its public description (IMPALA CNN 16-32-32
   with two residual blocks per stage, 256 hidden units; observations kept as float32
   ``[steps, envs, *frame]`` as that script keeps them; 8 minibatches, 3 epochs, Adam
   5e-4, clipped value loss, advantage normalisation), both acting on mrft's
   ``procgen:bigfish`` envs for one rollout and learning from it once. Figures: env
   steps per second of rollout plus update, and the peak resident memory of each process.

Writes ``--out`` (default ``benchmarks/results/peers.json``) and prints the table. The
peer needs Stable-Baselines3 (``pip install -e '.[peers]'``, or a venv of its own given
by ``--peer-python``, as in ``benchmarks/rl2_speed.py``).

    python benchmarks/peers.py --peer-python /tmp/peers-venv/bin/python
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import sys
import time
from pathlib import Path

from speed_common import (
    REPO,
    command_line,
    emit,
    loadavg,
    machine,
    make_sb3_vec_env,
    measure_trainer,
    provenance,
    raw_stepping,
    run_side,
    since_start,
    timed,
)

RESULT_PREFIX = "PEERS_RESULT "
METAWORLD = "metaworld:reach"
PROCGEN = "procgen:bigfish"
NUM_ENVS, NUM_STEPS, MINIBATCHES, EPOCHS = 8, 256, 8, 10
MLP = (256, 256)
LEARNING_RATE, GAMMA, GAE_LAMBDA = 3e-4, 0.99, 0.95


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -- Meta-World: SB3 PPO and mrft PPO with the same settings ---------------------------------


def side_sb3(steps: int, seed: int, threads: int | None) -> dict:
    import stable_baselines3
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

    import_s = since_start()
    load_before = loadavg()
    if threads is not None:
        torch.set_num_threads(threads)

    def build():
        env = VecNormalize(VecMonitor(make_sb3_vec_env(METAWORLD, NUM_ENVS, seed)), gamma=GAMMA)
        kwargs = {"net_arch": {"pi": list(MLP), "vf": list(MLP)}, "activation_fn": torch.nn.Tanh}
        return PPO("MlpPolicy", env, n_steps=NUM_STEPS, batch_size=NUM_ENVS * NUM_STEPS // MINIBATCHES,
                   n_epochs=EPOCHS, learning_rate=LEARNING_RATE, gamma=GAMMA, gae_lambda=GAE_LAMBDA,
                   policy_kwargs=kwargs, seed=seed, device="cpu", verbose=0)

    model, setup_s, _ = timed(build)
    _, wall, cpu = timed(lambda: model.learn(total_timesteps=steps))
    env_steps = int(model.num_timesteps)
    model.get_env().close()
    return {"side": "sb3-ppo", "library": f"stable-baselines3 {stable_baselines3.__version__}",
            "env_steps": env_steps, "train_wall_s": wall, "train_cpu_s": cpu,
            "sps": env_steps / wall, "setup_s": setup_s, "import_s": import_s,
            "parameters": sum(p.numel() for p in model.policy.parameters()),
            "torch_threads": torch.get_num_threads(), "peak_rss_mib": peak_rss_mib(),
            "loadavg_before": load_before, "loadavg_after": loadavg()}


def side_mrft(steps: int, seed: int, threads: int | None, defaults: bool) -> dict:
    from mrft.algos.ppo import PPOConfig
    from mrft.config import EnvConfig, OptimConfig, RunConfig, TrainConfig

    def make_cfg(runs_dir: str) -> TrainConfig:
        run = RunConfig(total_steps=steps, seed=seed, runs_dir=runs_dir, run_name="peers",
                        progress=False, eval_episodes=0, threads=threads)
        if defaults:
            return TrainConfig(env=EnvConfig(env=METAWORLD), run=run)
        return TrainConfig(
            env=EnvConfig(env=METAWORLD, num_envs=NUM_ENVS),
            optim=OptimConfig(learning_rate=LEARNING_RATE, anneal_lr=False),
            ppo=PPOConfig(num_steps=NUM_STEPS, num_minibatches=MINIBATCHES, update_epochs=EPOCHS,
                          gamma=GAMMA, gae_lambda=GAE_LAMBDA, normalize_reward=True),
            run=dataclasses.replace(run, hidden_sizes=MLP, normalize_obs=True))

    measured, resolved = measure_trainer(make_cfg)
    return {"side": "mrft-defaults" if defaults else "mrft-ppo", "library": "mrft", **measured,
            "settings": {"num_envs": resolved.env.num_envs, "num_steps": resolved.ppo.num_steps,
                         "num_minibatches": resolved.ppo.num_minibatches,
                         "update_epochs": resolved.ppo.update_epochs,
                         "hidden_sizes": list(resolved.run.hidden_sizes),
                         "anneal_lr": resolved.optim.anneal_lr},
            "peak_rss_mib": peak_rss_mib()}


def side_raw(seconds: float, num_envs: int) -> dict:
    steps, wall = raw_stepping(METAWORLD, num_envs, seconds)
    return {"side": "envpool-raw", "env_steps": steps, "train_wall_s": wall, "sps": steps / wall,
            "num_envs": num_envs, "peak_rss_mib": peak_rss_mib()}


# -- Procgen: CleanRL's network and update, and mrft's, one update each ----------------------


def cleanrl_procgen_agent(actions: int):
    """The IMPALA CNN agent of CleanRL ``ppo_procgen.py`` as its public description gives
    it: three stages (16, 32, 32 channels) of conv 3x3, max-pool 3x3 stride 2 and two
    residual blocks, then ReLU, a 256-unit dense layer and ReLU; orthogonal heads (actor
    gain 0.01, critic 1)."""
    import torch
    from torch import nn

    class Residual(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv0 = nn.Conv2d(channels, channels, 3, padding=1)
            self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)

        def forward(self, x):
            return x + self.conv1(torch.relu(self.conv0(torch.relu(x))))

    def stage(inp, out):
        return nn.Sequential(nn.Conv2d(inp, out, 3, padding=1), nn.MaxPool2d(3, 2, padding=1),
                             Residual(out), Residual(out))

    class Agent(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(stage(3, 16), stage(16, 32), stage(32, 32), nn.Flatten(),
                                      nn.ReLU(), nn.Linear(32 * 8 * 8, 256), nn.ReLU())
            self.actor = nn.Linear(256, actions)
            self.critic = nn.Linear(256, 1)
            nn.init.orthogonal_(self.actor.weight, 0.01)
            nn.init.orthogonal_(self.critic.weight, 1.0)
            nn.init.zeros_(self.actor.bias)
            nn.init.zeros_(self.critic.bias)

        def features(self, obs):
            if obs.shape[-1] == 3:  # frames as height x width x channels
                obs = obs.permute(0, 3, 1, 2)
            return self.body(obs / 255.0)

        def act(self, obs, action=None):
            hidden = self.features(obs)
            dist = torch.distributions.Categorical(logits=self.actor(hidden))
            if action is None:
                action = dist.sample()
            return action, dist.log_prob(action), dist.entropy(), self.critic(hidden).squeeze(-1)

    return Agent()


def side_cleanrl_procgen(seed: int, threads: int | None) -> dict:
    import numpy as np
    import torch

    from mrft.envs import make_vec_env, parse_env

    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    num_envs, num_steps, minibatches, epochs = 64, 256, 8, 3
    gamma, lam, clip, ent_coef, vf_coef, max_norm = 0.999, 0.95, 0.2, 0.01, 0.5, 0.5
    env = make_vec_env(parse_env(PROCGEN).train, num_envs, seed=seed)
    agent = cleanrl_procgen_agent(int(env.action_space.n))
    optimizer = torch.optim.Adam(agent.parameters(), lr=5e-4, eps=1e-5)
    shape = env.observation_space.shape
    obs = torch.zeros((num_steps, num_envs, *shape))  # float32, as the script stores frames
    actions = torch.zeros((num_steps, num_envs), dtype=torch.long)
    logprobs, rewards, dones, values = (torch.zeros((num_steps, num_envs)) for _ in range(4))
    next_obs = torch.as_tensor(env.reset(), dtype=torch.float32)
    next_done = torch.zeros(num_envs)

    def rollout():
        nonlocal next_obs, next_done
        for t in range(num_steps):
            obs[t], dones[t] = next_obs, next_done
            with torch.no_grad():
                action, logprob, _, value = agent.act(next_obs)
            actions[t], logprobs[t], values[t] = action, logprob, value
            result = env.step(action.numpy().astype(np.int32))
            rewards[t] = torch.as_tensor(result.reward, dtype=torch.float32)
            next_obs = torch.as_tensor(result.obs, dtype=torch.float32)
            next_done = torch.as_tensor(result.terminated | result.truncated, dtype=torch.float32)

    def update():
        with torch.no_grad():
            next_value = agent.act(next_obs)[3]
            advantages = torch.zeros_like(rewards)
            last = 0
            for t in reversed(range(num_steps)):
                nonterminal = 1.0 - (next_done if t == num_steps - 1 else dones[t + 1])
                following = next_value if t == num_steps - 1 else values[t + 1]
                delta = rewards[t] + gamma * following * nonterminal - values[t]
                advantages[t] = last = delta + gamma * lam * nonterminal * last
            returns = advantages + values
        b_obs = obs.reshape(-1, *shape)
        b_act, b_logp = actions.reshape(-1), logprobs.reshape(-1)
        b_adv, b_ret, b_val = advantages.reshape(-1), returns.reshape(-1), values.reshape(-1)
        batch = num_envs * num_steps
        size = batch // minibatches
        for _ in range(epochs):
            order = torch.randperm(batch)
            for start in range(0, batch, size):
                mb = order[start:start + size]
                _, newlogp, entropy, newvalue = agent.act(b_obs[mb], b_act[mb])
                ratio = (newlogp - b_logp[mb]).exp()
                adv = (b_adv[mb] - b_adv[mb].mean()) / (b_adv[mb].std() + 1e-8)
                pg = torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip, 1 + clip)).mean()
                clipped = b_val[mb] + (newvalue - b_val[mb]).clamp(-clip, clip)
                v_loss = 0.5 * torch.max((newvalue - b_ret[mb]) ** 2, (clipped - b_ret[mb]) ** 2).mean()
                loss = pg - ent_coef * entropy.mean() + vf_coef * v_loss
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(agent.parameters(), max_norm)
                optimizer.step()

    _, rollout_s, _ = timed(rollout)
    _, update_s, _ = timed(update)
    env.close()
    steps = num_envs * num_steps
    return {"side": "cleanrl-procgen", "env_steps": steps, "rollout_s": rollout_s,
            "update_s": update_s, "train_wall_s": rollout_s + update_s,
            "sps": steps / (rollout_s + update_s), "peak_rss_mib": peak_rss_mib(),
            "torch_threads": torch.get_num_threads()}


def side_mrft_procgen(seed: int, threads: int | None) -> dict:
    from mrft.config import EnvConfig, RunConfig, TrainConfig

    def make_cfg(runs_dir: str) -> TrainConfig:
        return TrainConfig(env=EnvConfig(env=PROCGEN),
                           run=RunConfig(total_steps=64 * 256, seed=seed, runs_dir=runs_dir,
                                         run_name="peers-procgen", progress=False, eval_episodes=0,
                                         threads=threads, precision="fp32"))

    measured, _ = measure_trainer(make_cfg)
    phases = measured["trainer_phase_s"]
    return {"side": "mrft-procgen", **measured, "rollout_s": phases.get("rollout"),
            "update_s": phases.get("update"), "peak_rss_mib": peak_rss_mib()}


# -- the driver ------------------------------------------------------------------------------

SIDES = ("sb3-ppo", "mrft-ppo", "mrft-defaults", "envpool-raw", "cleanrl-procgen", "mrft-procgen")


def run_child(args: argparse.Namespace) -> None:
    side = args.side
    if side == "sb3-ppo":
        row = side_sb3(args.metaworld_steps, args.seed, args.threads)
    elif side in ("mrft-ppo", "mrft-defaults"):
        row = side_mrft(args.metaworld_steps, args.seed, args.threads, side == "mrft-defaults")
    elif side == "envpool-raw":
        row = side_raw(args.raw_seconds, 16)
    elif side == "cleanrl-procgen":
        row = side_cleanrl_procgen(args.seed, args.threads)
    else:
        row = side_mrft_procgen(args.seed, args.threads)
    emit(RESULT_PREFIX, row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metaworld-steps", type=int, default=40_960,
                        help="env steps per Meta-World run (a multiple of 8 x 256 and 16 x 256)")
    parser.add_argument("--raw-seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--procgen", action=argparse.BooleanOptionalAction, default=True,
                        help="also the Procgen comparison (minutes per side on 2 cores)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch threads, every side")
    parser.add_argument("--peer-python", default=sys.executable,
                        help="the interpreter of the Stable-Baselines3 side")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "peers.json"))
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        run_child(args)
        return
    child = ["--seed", str(args.seed), "--metaworld-steps", str(args.metaworld_steps),
             "--raw-seconds", str(args.raw_seconds)]
    if args.threads is not None:
        child += ["--threads", str(args.threads)]
    sides = ["sb3-ppo", "mrft-ppo", "mrft-defaults", "envpool-raw"]
    if args.procgen:
        sides += ["cleanrl-procgen", "mrft-procgen"]
    runs: dict[str, list[dict]] = {s: [] for s in sides}
    for repeat in range(args.repeats):
        for side in sides:
            python = args.peer_python if side == "sb3-ppo" else sys.executable
            runs[side].append(run_side(python, __file__, side, child, RESULT_PREFIX,
                                       label=f"{side} {repeat + 1}/{args.repeats}"))

    def median(side: str, key: str = "sps") -> float:
        return statistics.median(r[key] for r in runs[side])

    ratios = {
        "mrft_ppo_over_sb3_ppo": median("mrft-ppo") / median("sb3-ppo"),
        "mrft_defaults_over_envpool_raw": median("mrft-defaults") / median("envpool-raw"),
    }
    if args.procgen:
        ratios["mrft_procgen_over_cleanrl"] = median("mrft-procgen") / median("cleanrl-procgen")
        ratios["mrft_procgen_peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs["mrft-procgen"])
    record = {"command": command_line("benchmarks/peers.py", {k: v for k, v in vars(args).items()
                                                               if k not in ("side", "out")}),
              "machine": machine(), **provenance(), "time": time.strftime("%Y-%m-%d %H:%M:%S"),
              "medians_sps": {s: median(s) for s in sides}, "ratios": ratios, "runs": runs}
    Path(args.out).write_text(json.dumps(record, indent=2))
    print(json.dumps({"medians_sps": record["medians_sps"], "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
