"""A user's own task family: a level driven to its setpoint through a valve whose gain is hidden.

Every reset draws a new valve from the env's RNG: a gain of 0.5 to 1.5 that may be reversed.
The observation (level, setpoint) does not show it, so a policy must find out which way the
valve turns by trying it: what in-context adaptation is for. ``task_parameters()`` shows the
gain to an oracle. Run it with the suite next to this file:

    mrft bench --suite examples/hidden_valve.toml
"""

import gymnasium as gym
import numpy as np


class HiddenValve(gym.Env):
    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    gain, setpoint, level = 1.0, 0.0, 0.0  # an instance before the first reset

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)  # seeds self.np_random when a seed is given
        sign = self.np_random.choice([-1.0, 1.0])
        self.gain = sign * self.np_random.uniform(0.5, 1.5)  # the hidden task
        self.setpoint = self.np_random.uniform(-1.0, 1.0)
        self.level = 0.0
        return self._obs(), {}

    def step(self, action):
        self.level = float(np.clip(self.level + 0.2 * self.gain * float(action[0]), -3.0, 3.0))
        error = abs(self.level - self.setpoint)
        return self._obs(), -error, False, False, {"success": float(error < 0.1)}

    def task_parameters(self):
        return np.array([self.gain], dtype=np.float32)

    def _obs(self):
        return np.array([self.level, self.setpoint], dtype=np.float32)


gym.register("HiddenValve-v0", entry_point=HiddenValve, max_episode_steps=30)
