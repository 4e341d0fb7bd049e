"""Fixed-length chunks of trials: the belief carried across chunk boundaries equals the
whole-trial recompute, rows restart at trial ends, envs that can reset alone never wait and
play fixed-length episodes exactly as lockstep envs do, lockstep waiting ticks are not
steps, the budget is never exceeded and a resumed stream continues exactly."""

import itertools

import pytest
import torch
from test_mrft_belief_actor import small_agent

from mrft.algos.mrft.belief_actor import BeliefActor
from mrft.algos.mrft.belief_agent import observation_features
from mrft.algos.mrft.stream_rows import StreamRows, row_start_states
from mrft.trial_stream import TrialStreamCollector


class LockstepActor(BeliefActor):
    """A belief actor the collector may not restart per env: every episode starts in every
    env at once."""

    row_restarts = False


def _stream(spec, num_steps=7, trial_episodes=2, num_envs=3, max_episode_steps=15, seed=3,
            encoder="tcn", lockstep=False):
    tasks, policy, agent = small_agent(spec, encoder)
    actor = (LockstepActor if lockstep else BeliefActor)(agent, policy)
    collector = TrialStreamCollector(tasks, actor, num_envs, num_steps, trial_episodes,
                                     max_episode_steps, seed, torch.device("cpu"))
    return policy, agent, actor, collector


def _transitions(policy, agent, rows):
    return agent.transitions(observation_features(policy, rows.obs), rows.actions, rows.rewards,
                             rows.episode_end)


@pytest.mark.parametrize(("spec", "encoder", "trials"), [("nav:point", "tcn", 2), ("nav:point", "gru", 2),
                                                         ("shift:inverted-pendulum", "tcn", None)])
def test_beliefs_carried_across_chunks_equal_the_whole_trial_recompute(spec, encoder, trials):
    """nav's 63 ticks hold three trials of 2 x 15 steps; the pendulum's episodes end when it
    falls, each env on its own tick, and its next episode starts the tick after."""
    policy, agent, _, collector = _stream(spec, num_steps=7, encoder=encoder)
    batches = [collector.collect() for _ in range(9)]
    assert collector.own_resets == spec.startswith("shift")
    for env in range(3):
        steps = {key: torch.cat([getattr(b, key)[env] for b in batches]) for key in
                 ("obs", "actions", "rewards", "episode_end", "trial_end", "valid")}
        beliefs = torch.cat([b.extras["beliefs"][env] for b in batches])
        assert steps["valid"].all()
        trial_ends = int(steps["trial_end"].sum())
        assert trial_ends == trials if trials else trial_ends >= 1
        ends = [0, *(steps["trial_end"].nonzero().flatten() + 1).tolist(), len(beliefs)]
        for a, b in itertools.pairwise(ends):
            x = agent.transitions(observation_features(policy, steps["obs"][a:b]), steps["actions"][a:b],
                                  steps["rewards"][a:b], steps["episode_end"][a:b])
            whole = agent.sequence(x[None])[0, :-1]
            assert torch.allclose(whole, beliefs[a:b], atol=1e-5)


@pytest.mark.parametrize(("spec", "encoder"), [("nav:point", "tcn"), ("nav:point", "gru"),
                                              ("shift:inverted-pendulum", "tcn")])
def test_each_chunk_recomputed_from_its_stored_start_equals_what_was_acted_on(spec, encoder):
    policy, agent, _, collector = _stream(spec, num_steps=11, encoder=encoder)
    for _ in range(5):
        batch = collector.collect()
        rows = StreamRows.from_batch(batch)
        starts = row_start_states(batch.extras["start"], rows,
                                  agent.encoder.initial_state(len(rows.env)))
        recomputed = agent.sequence(_transitions(policy, agent, rows), starts)
        for r, n in enumerate(rows.lengths.tolist()):
            assert torch.allclose(recomputed[r, :n], rows.beliefs[r, :n], atol=1e-5)
        # a row is the part of one trial: it starts fresh where a trial starts in the chunk
        assert int(rows.fresh.sum()) == int(batch.trial_start.sum())


def test_rows_end_where_trials_end_and_bootstrap_where_the_chunk_cuts_them():
    _, _, _, collector = _stream("nav:point", num_steps=25, max_episode_steps=15)
    batch = collector.collect()  # ticks 0-24: the first trial ends at tick 29, not in this chunk
    rows = StreamRows.from_batch(batch)
    assert len(rows.env) == 3 and not rows.terminated.any()
    assert torch.equal(rows.final_value, batch.next_value)
    batch = collector.collect()  # ticks 25-49: the trial ends at tick 29 (truncated)
    rows = StreamRows.from_batch(batch)
    assert len(rows.env) == 6 and rows.lengths.tolist() == [5, 20] * 3
    ended = rows.lengths == 5
    assert torch.equal(rows.final_value[ended], batch.final_values[:, 4])
    assert (batch.final_values[:, 4] != 0).all() and not rows.terminated.any()
    assert rows.fresh.tolist() == [False, True] * 3


def test_lockstep_waiting_ticks_are_not_steps_and_the_budget_is_never_exceeded():
    _, _, _, collector = _stream("shift:inverted-pendulum", num_steps=64, trial_episodes=2,
                                 num_envs=4, max_episode_steps=200, seed=5, lockstep=True)
    total = waited = 0
    while (batch := collector.collect(max_env_steps=700 - total)) is not None:
        assert batch.env_steps == int(batch.valid.sum())
        total += batch.env_steps
        waited += int((~batch.valid).sum())
        # an env that ended its episode waits until every env has ended theirs
        waiting = ~batch.valid[:, 1:] & batch.valid[:, :-1]
        assert torch.equal(waiting, batch.episode_end[:, :-1] & ~batch.valid[:, 1:])
        for e, j in zip(batch.episodes, batch.episode_index, strict=True):
            assert j in (0, 1) and e.length >= 1
    assert 700 - 4 < total <= 700 and waited > 0


def test_envs_that_reset_alone_never_wait_and_each_starts_its_trials_on_its_own_tick():
    _, _, _, collector = _stream("shift:inverted-pendulum", num_steps=64, trial_episodes=2,
                                 num_envs=4, max_episode_steps=200, seed=5)
    total, batches = 0, []
    while (batch := collector.collect(max_env_steps=700 - total)) is not None:
        assert batch.valid.all() and batch.env_steps == batch.valid.numel()
        total += batch.env_steps
        batches.append(batch)
    assert total == 700
    ends = torch.cat([b.trial_end for b in batches], dim=1)
    starts = torch.cat([b.trial_start for b in batches], dim=1)
    assert torch.equal(starts[:, 1:], ends[:, :-1]) and starts[:, 0].all()
    assert len({tuple(row.nonzero().flatten().tolist()) for row in ends}) > 1  # not in lockstep
    episodes = [j for b in batches for j in b.episode_index]
    assert set(episodes) == {0, 1}


def test_fixed_length_episodes_play_the_same_whether_envs_reset_alone_or_in_lockstep():
    """Reacher's episodes all last 50 steps, so no env ever resets alone: the two ways give
    the same chunks, and a run recorded in lockstep stays what it was."""
    chunks = []
    for lockstep in (False, True):
        collector = _stream("shift:reacher", num_steps=23, max_episode_steps=50, lockstep=lockstep)[3]
        chunks.append([collector.collect() for _ in range(10)])  # 230 ticks: two trials
        assert collector.own_resets is not lockstep
    for a, b in zip(*chunks, strict=True):
        for key in ("obs", "actions", "rewards", "valid", "trial_end", "trial_start", "next_value"):
            assert torch.equal(getattr(a, key), getattr(b, key)), key


@pytest.mark.parametrize(("spec", "chunks"), [("nav:point", 3), ("shift:inverted-pendulum", 4),
                                             ("recsys:users", 3), ("current:drift", 3),
                                             ("market:regimes", 3)])
def test_a_resumed_stream_continues_exactly(spec, chunks):
    """nav's envs play in lockstep; the pendulum's saved episodes started on different ticks,
    and the replay resets each env where its episode started. recsys's clicks, current's noise
    and market's paths come from a stream a re-seed does not restart: the replay puts it back
    where it stood at the pool's reset (the clicks never show in the observation, so only the
    rewards can tell a wrong stream)."""
    _, agent, actor, collector = _stream(spec, num_steps=9)
    for _ in range(chunks):
        collector.collect()
    saved, saved_actor, rng = collector.state_dict(), actor.stream_state(), torch.get_rng_state()
    if spec.startswith("shift"):
        assert len(set(saved["sent_from"].tolist())) > 1
    expected = collector.collect()
    _, agent2, actor2, fresh = _stream(spec, num_steps=9)
    agent2.load_state_dict(agent.state_dict())
    actor2.load_stream_state(saved_actor)
    assert fresh.load_state_dict(saved)
    torch.set_rng_state(rng)
    got = fresh.collect()
    for key in ("obs", "actions", "rewards", "valid", "trial_end", "next_value"):
        assert torch.equal(getattr(got, key), getattr(expected, key)), key
    assert torch.allclose(got.extras["beliefs"], expected.extras["beliefs"])


def test_a_stream_saved_before_envs_reset_alone_resumes_exactly():
    """A state from before per-env episodes holds one episode, tick and trial-start flag for
    every env and the number of lockstep instance draws: it still resumes exactly."""
    _, agent, actor, collector = _stream("nav:point", num_steps=9)
    for _ in range(3):
        collector.collect()
    saved, saved_actor, rng = collector.state_dict(), actor.stream_state(), torch.get_rng_state()
    expected = collector.collect()
    old = {k: v for k, v in saved.items() if k not in ("rng", "trials", "sent_from", "ticks")}
    old.update(trials_drawn=int(saved["trials"][0]), episode=int(saved["episode"][0]),
               tick=int(saved["ticks"][0]), trial_starts=bool(saved["trial_starts"][0]))
    _, agent2, actor2, fresh = _stream("nav:point", num_steps=9)
    agent2.load_state_dict(agent.state_dict())
    actor2.load_stream_state(saved_actor)
    assert fresh.load_state_dict(old)
    torch.set_rng_state(rng)
    got = fresh.collect()
    for key in ("obs", "actions", "rewards", "trial_end", "next_value"):
        assert torch.equal(getattr(got, key), getattr(expected, key)), key
    assert fresh.state_dict()["rng"] == collector.state_dict()["rng"]


@pytest.mark.parametrize("gradient", ["decoder", "both"])
def test_the_update_reads_the_beliefs_acting_held_and_takes_ppos_minibatches(tmp_path, gradient):
    """Steps minibatches with stored beliefs (the decoder alone trains the belief) or whole
    rows whose beliefs are recomputed from their stored starts (the policy gradient reaches
    the belief): either way the policy sees what it acted on, and the loss is finite."""
    from mrft.algos.mrft.options import MRFTConfig
    from mrft.config import EnvConfig, RunConfig, TrainConfig
    from mrft.trainer import Trainer

    cfg = TrainConfig(env=EnvConfig(env="nav:point", num_envs=4), algo="mrft",
                      run=RunConfig(total_steps=10_000, runs_dir=str(tmp_path), progress=False,
                                    hidden_sizes=(16, 16)),
                      mrft=MRFTConfig(tcn_channels=8, tcn_levels=2, meta_d_model=16, meta_layers=1,
                                      embed_dim=8, meta_num_steps=50, meta_minibatches=4,
                                      belief_gradient=gradient))
    trainer = Trainer(cfg)
    algo = trainer.algo
    for _ in range(2):  # the second chunk continues trials the first one started
        plan = algo.prepare(trainer.collector.collect())
    minibatches = list(algo.minibatches(plan.data, torch.Generator().manual_seed(0)))
    assert len(minibatches) == 4 and sum(len(mb["obs"]) for mb in minibatches) == 200
    for mb in minibatches:
        z, rows = algo._step_beliefs(mb)
        assert rows is not None and torch.allclose(z, mb["beliefs"], atol=1e-5)
        assert z.requires_grad == (gradient == "both")
        assert torch.isfinite(algo.loss(mb)["loss"])
    trainer.collector.close()


def test_an_mrft_run_resumed_mid_trial_equals_the_uninterrupted_one(tmp_path):
    """Chunks of 30 steps cut nav's 40-step trials anywhere: the resumed run replays the env
    to the saved tick and carries on with the saved belief, bit for bit."""
    from mrft.algos.mrft.options import MRFTConfig
    from mrft.config import EnvConfig, RunConfig, TrainConfig
    from mrft.trainer import Trainer

    def cfg(name):
        return TrainConfig(env=EnvConfig(env="nav:point", num_envs=4), algo="mrft",
                           run=RunConfig(total_steps=4 * 30 * 5, runs_dir=str(tmp_path), run_name=name,
                                         progress=False, hidden_sizes=(16, 16), threads=1),
                           mrft=MRFTConfig(tcn_channels=8, tcn_levels=2, meta_d_model=16, meta_layers=1,
                                           embed_dim=8, meta_num_steps=30, meta_minibatches=2,
                                           meta_iterations=1))

    full = Trainer(cfg("full")).train()
    first = Trainer(cfg("split")).train(max_updates=2)
    resumed = Trainer(cfg("ignored"), resume_from=str(first.checkpoint))
    assert resumed.resumed_exactly is True
    second = resumed.train()
    assert second.updates == full.updates == 5
    a = torch.load(full.checkpoint, weights_only=True)["model"]
    b = torch.load(second.checkpoint, weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_adapting_every_episode_from_the_trials_last_starts_from_the_belief_it_started_with():
    """In adaptation's endless trial, a belief never spans more episodes than a pre-training
    trial (K = 2): episode 0 starts from the prior, every later one from the belief held
    when episode 1 started, and a resumed stream keeps that belief."""
    tasks, policy, agent = small_agent("nav:point")

    def adapting():
        actor = BeliefActor(agent, policy, keep_at=1, span=2)
        return actor, TrialStreamCollector(tasks, actor, 3, 100, None, 15, 3, torch.device("cpu"),
                                           instance=0, episode_chunks=True, credit_episodes=2)

    actor, collector = adapting()
    chunks = [collector.collect() for _ in range(4)]  # one 15-step episode each
    assert [c.valid.shape[1] for c in chunks] == [15] * 4
    # credit runs from episode 0 into episode 1, then ends with every episode, each of which
    # is played from the same belief, as a trial's last
    assert [bool(c.trial_end[:, -1].all()) for c in chunks] == [False, True, True, True]
    assert not any(c.trial_end[:, :-1].any() for c in chunks)
    first = [c.extras["beliefs"][:, 0] for c in chunks]
    assert not torch.allclose(first[0], first[1])
    assert all(torch.equal(f, first[1]) for f in first[2:])
    assert torch.equal(agent.belief(actor.context), first[1])
    saved, saved_actor, rng = collector.state_dict(), actor.stream_state(), torch.get_rng_state()
    expected = collector.collect()
    resumed, fresh = adapting()
    resumed.load_stream_state(saved_actor)
    assert fresh.load_state_dict(saved)
    torch.set_rng_state(rng)
    got = fresh.collect()
    assert torch.equal(got.extras["beliefs"][:, 0], first[1])
    assert torch.equal(got.extras["beliefs"], expected.extras["beliefs"])
