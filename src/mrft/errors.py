"""Errors that reach the user as one line instead of a traceback."""


class MrftError(Exception):
    """A problem the user can fix (bad input, missing file, diverged run).

    The CLI prints ``error: <message>`` on one line and exits with ``exit_code``.
    """

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


class EnvFaultError(MrftError):
    """An environment failed (raised, hung past ``--env-step-timeout``) or broke its contract
    (an observation of another shape or type, a reward that is not a number): the run stops,
    and the trainer saves the weights learned so far before the one line reaches the user."""

    def __init__(self, message: str):
        super().__init__(message, exit_code=1)


class NonFiniteEnvError(EnvFaultError):
    """An environment returned NaN or inf: nothing learned from it could be trusted."""


class RankLostError(MrftError):
    """A collective of a torchrun job failed because another rank is gone (it crashed, was
    killed or failed with its own error): this rank stops too, leaving the last checkpoint
    as it was."""

    def __init__(self, message: str):
        super().__init__(message, exit_code=1)
