"""A user's env held to its contract, so a fault in it ends a run in one line, not a traceback.

A Gymnasium env written by a user can fail in ways a built-in family cannot: raise from
``step`` or ``reset`` (a simulator that loses its connection), return an observation of
another shape or type than its observation space, a reward that is not a number, or hang.
:class:`EnvGuard` wraps each env of a vector and turns each of these into
:class:`mrft.errors.EnvFaultError` naming the env, its index in the vector and the step
(the user's exception stays chained to it: ``--debug`` prints its traceback). The trainer
catches that error, saves the weights learned so far and ends with one ``error:`` line.

The step timeout (``--env-step-timeout``, off by default) is a ``SIGALRM`` interval timer
armed around every call into the env: when it fires, the handler raises inside the call.
It interrupts Python code and the blocking system calls Python makes (sleep, socket reads),
which is how a simulator client hangs; a C extension that loops without returning to the
interpreter cannot be interrupted this way. Signals reach the main thread only, so where an
env is stepped from another thread the timeout is not enforced (a note says so, once).
"""

from __future__ import annotations

import contextlib
import numbers
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

import gymnasium
import numpy as np

from mrft.errors import EnvFaultError, MrftError

_step_timeout: float | None = None
_NUMBER_TYPES = (float, int, np.float64, np.float32, bool, np.bool_)
_warned_thread = False


def set_step_timeout(seconds: float | None) -> None:
    """Seconds any one call of a guarded env may take (None or 0: no limit); process-wide,
    set by the trainer from ``--env-step-timeout``."""
    if seconds is not None and seconds < 0:
        raise MrftError(f"--env-step-timeout must be >= 0, got {seconds}")
    global _step_timeout
    _step_timeout = seconds or None


class _Expired(Exception):
    """The timer fired inside an env call."""


def _expire(signum, frame) -> None:
    raise _Expired


@contextlib.contextmanager
def _deadline() -> Iterator[None]:
    """Raise :class:`_Expired` inside the body once the step timeout has passed."""
    global _warned_thread
    seconds = _step_timeout
    if seconds is None:
        yield
        return
    if threading.current_thread() is not threading.main_thread():
        if not _warned_thread:
            _warned_thread = True
            print("note: --env-step-timeout is not enforced for envs stepped outside the main "
                  "thread", file=sys.stderr)
        yield
        return
    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _is_number(reward: Any) -> bool:
    if type(reward) in _NUMBER_TYPES or isinstance(reward, numbers.Real):
        return True
    return isinstance(reward, np.ndarray) and reward.ndim == 0 and reward.dtype.kind in "biuf"


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{text[:60]}..." if len(text) > 60 else text


class EnvGuard(gymnasium.Wrapper):
    """Env ``index`` of a vector of ``name``: faults become :class:`EnvFaultError` (see the
    module docstring); everything else passes through unchanged."""

    def __init__(self, env: gymnasium.Env, name: str, index: int):
        super().__init__(env)
        self._name = name
        self._index = index
        self._episode_step = 0
        self._steps = 0

    def _where(self) -> str:
        return (f"env {self._index} of {self._name}, step {self._episode_step} of its episode "
                f"({self._steps:,} steps in this env)")

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            if _step_timeout is None:  # the every-step case: no timer to arm
                return fn(*args, **kwargs)
            with _deadline():
                return fn(*args, **kwargs)
        except _Expired:
            raise EnvFaultError(f"{self._where()}: {what}() did not return within "
                                f"--env-step-timeout {_step_timeout:g} s") from None
        except MrftError:
            raise
        except Exception as exc:
            raise EnvFaultError(f"{self._where()}: {what}() raised {type(exc).__name__}: "
                                f"{exc}") from exc

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._episode_step = 0
        obs, info = self._call("reset", self.env.reset, seed=seed, options=options)
        self._check_observation(obs, "reset")
        return obs, info

    def step(self, action):
        self._episode_step += 1
        self._steps += 1
        obs, reward, terminated, truncated, info = self._call("step", self.env.step, action)
        self._check_observation(obs, "step")
        if not _is_number(reward):
            raise EnvFaultError(f"{self._where()}: step() returned a reward that is not a "
                                f"number: {_describe(reward)} ({type(reward).__name__})")
        return obs, reward, terminated, truncated, info

    def _check_observation(self, obs: Any, what: str) -> None:
        space = self.observation_space
        if type(obs) is np.ndarray and obs.shape == space.shape and obs.dtype == space.dtype:
            return  # the every-step case, in three comparisons
        try:
            array = np.asarray(obs)
        except Exception:  # an object NumPy cannot even hold
            array = None
        if array is None or array.dtype.kind not in "biuf":
            raise EnvFaultError(f"{self._where()}: {what}() returned an observation that is not "
                                f"an array of numbers: {_describe(obs)} ({type(obs).__name__})")
        expected = getattr(space, "shape", None)
        if expected is not None and array.shape != tuple(expected):
            raise EnvFaultError(f"{self._where()}: {what}() returned an observation of shape "
                                f"{array.shape}, but its observation space has shape "
                                f"{tuple(expected)}")
        dtype = getattr(space, "dtype", None)
        if dtype is not None and not np.can_cast(array.dtype, dtype, casting="same_kind"):
            raise EnvFaultError(f"{self._where()}: {what}() returned a {array.dtype} observation, "
                                f"which its observation space ({dtype}) cannot hold")
