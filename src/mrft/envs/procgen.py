"""Procgen games through envpool's C++ implementation.

Standard generalisation split (Cobbe et al. 2020): train on levels ``[0, 200)``, test
on the full level distribution (``num_levels=0``). A task with ``num_levels=1`` pins
every env of the pool to one identical level, which is what a GRPO group needs.
"""

from __future__ import annotations

from mrft.envs.family import NORMALISED, Family
from mrft.envs.spaces import envpool_spaces
from mrft.envs.spec import Suite, Task, make_task
from mrft.envs.vector import EnvpoolVecEnv
from mrft.errors import MrftError

GAMES = (
    "bigfish", "bossfight", "caveflyer", "chaser", "climber", "coinrun", "dodgeball",
    "fruitbot", "heist", "jumper", "leaper", "maze", "miner", "ninja", "plunder", "starpilot",
)

# (R_min, R_max) per game and mode for normalised return, Cobbe et al. 2020, appendix.
RETURN_RANGE = {
    "easy": {
        "bigfish": (1.0, 40.0), "bossfight": (0.5, 13.0), "caveflyer": (3.5, 12.0),
        "chaser": (0.5, 13.0), "climber": (2.0, 12.6), "coinrun": (5.0, 10.0),
        "dodgeball": (1.5, 19.0), "fruitbot": (-1.5, 32.4), "heist": (3.5, 10.0),
        "jumper": (3.0, 10.0), "leaper": (3.0, 10.0), "maze": (5.0, 10.0),
        "miner": (1.5, 13.0), "ninja": (3.5, 10.0), "plunder": (4.5, 30.0),
        "starpilot": (2.5, 64.0),
    },
    "hard": {
        "bigfish": (0.0, 40.0), "bossfight": (0.5, 13.0), "caveflyer": (2.0, 13.4),
        "chaser": (0.5, 14.2), "climber": (1.0, 12.6), "coinrun": (5.0, 10.0),
        "dodgeball": (1.5, 19.0), "fruitbot": (-0.5, 27.2), "heist": (2.0, 10.0),
        "jumper": (1.0, 10.0), "leaper": (1.5, 10.0), "maze": (4.0, 10.0),
        "miner": (1.5, 20.0), "ninja": (2.0, 10.0), "plunder": (3.0, 30.0),
        "starpilot": (1.5, 35.0),
    },
}

MODES = ("easy", "hard")


def check_game(name: str) -> str:
    game = name.lower()
    if game not in GAMES:
        raise MrftError(f"unknown Procgen game {name!r}; choose one of: {', '.join(GAMES)}")
    return game


def level_task(game: str, level: int, mode: str = "easy") -> Task:
    """A task that is exactly one level: every env of its pool starts identically."""
    return make_task("procgen", check_game(game), mode=mode, num_levels=1, start_level=level)


def suite(game: str, mode: str = "easy", num_levels: int = 200, start_level: int = 0) -> Suite:
    game = check_game(game)
    if mode not in MODES:
        raise MrftError(f"unknown Procgen mode {mode!r}; choose 'easy' or 'hard'")
    train = make_task("procgen", game, mode=mode, num_levels=num_levels, start_level=start_level)
    test = make_task("procgen", game, mode=mode, num_levels=0, start_level=0)
    return Suite(f"procgen:{game}", (train,), (test,))


def env_id(task: Task) -> str:
    return f"{task.name.capitalize()}{task.option('mode', 'easy').capitalize()}-v0"


def make(task: Task, num_envs: int, seed: int, env_seeds: list[int] | None = None) -> EnvpoolVecEnv:
    """``env_seeds``: one RNG seed per env; envs with equal seeds play the same level sequence."""
    kwargs = {"env_seed": env_seeds} if env_seeds is not None else {}
    return EnvpoolVecEnv(
        env_id(task), num_envs, seed,
        num_levels=int(task.option("num_levels", 200)),
        start_level=int(task.option("start_level", 0)),
        **kwargs,
    )


def normalized_return(game: str, mode: str, ret: float) -> float:
    lo, hi = RETURN_RANGE[mode][game]
    return (ret - lo) / (hi - lo)


FAMILY = Family(
    name="procgen",
    summary="Procgen games (envpool), easy or hard; a held-out instance is a level never trained on",
    examples=("procgen:bigfish", "procgen:coinrun"),
    suite=lambda name, o: suite(name, o.distribution_mode, o.num_levels, o.start_level),
    make=make,
    spaces=lambda task: envpool_spaces(env_id(task)),
    default_num_envs=64,
    preset=lambda task, continuous: "images",
    hidden_parameters=("level layout",),
    score_name=NORMALISED,
    scorer=lambda task, instance: (
        lambda ret, success: normalized_return(task.name, task.option("mode", "easy"), ret)),
)
