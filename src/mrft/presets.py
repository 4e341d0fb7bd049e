"""Family presets: defaults that depend on the kind of task, filled into every unset field.

Procgen follows CleanRL ``ppo_procgen.py``; continuous control follows CleanRL
``ppo_continuous_action.py`` scaled to vectorised envs; classic control follows CleanRL
``ppo.py``. Values are keyed ``section.field`` so one table serves every config section;
an explicit value always wins over the preset.
"""

from __future__ import annotations

import dataclasses

from mrft.config import TrainConfig

PRESETS: dict[str, dict[str, object]] = {
    "procgen": {"optim.learning_rate": 5e-4, "ppo.num_steps": 256, "ppo.gamma": 0.999,
                "ppo.num_minibatches": 8, "ppo.update_epochs": 3, "ppo.ent_coef": 0.01,
                "ppo.normalize_reward": True, "run.normalize_obs": False,
                "mrft.meta_ent_coef": 0.01, "mrft.meta_iterations": 3,
                "mrft.meta_minibatch_size": 2048, "rl2.rl2_ent_coef": 0.01},
    "continuous": {"optim.learning_rate": 3e-4, "ppo.num_steps": 256, "ppo.gamma": 0.99,
                   "ppo.num_minibatches": 8, "ppo.update_epochs": 5, "ppo.ent_coef": 0.0,
                   "ppo.normalize_reward": True, "run.normalize_obs": True,
                   "mrft.meta_ent_coef": 0.0, "mrft.meta_iterations": 5,
                   "mrft.meta_minibatch_size": 512, "rl2.rl2_ent_coef": 0.005},
    "classic": {"optim.learning_rate": 2.5e-4, "ppo.num_steps": 128, "ppo.gamma": 0.99,
                "ppo.num_minibatches": 4, "ppo.update_epochs": 4, "ppo.ent_coef": 0.01,
                "ppo.normalize_reward": False, "run.normalize_obs": False,
                "mrft.meta_ent_coef": 0.01, "mrft.meta_iterations": 4,
                "mrft.meta_minibatch_size": 256, "rl2.rl2_ent_coef": 0.01},
}


def preset_name(family: str, continuous: bool) -> str:
    if family == "procgen":
        return "procgen"
    return "continuous" if continuous else "classic"


def resolve_presets(cfg: TrainConfig, preset: str) -> TrainConfig:
    """``cfg`` with every ``None`` field that the preset names filled in."""
    updates: dict[str, dict[str, object]] = {}
    for key, value in PRESETS[preset].items():
        section, field = key.split(".")
        if getattr(getattr(cfg, section), field) is None:
            updates.setdefault(section, {})[field] = value
    return dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section), **fields)
                                       for section, fields in updates.items()})
