"""Errors that reach the user as one line instead of a traceback."""


class MrftError(Exception):
    """A problem the user can fix (bad input, missing file, diverged run).

    The CLI prints ``error: <message>`` on one line and exits with ``exit_code``.
    """

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


class NonFiniteEnvError(MrftError):
    """An environment returned NaN or inf: nothing learned from it could be trusted."""

    def __init__(self, message: str):
        super().__init__(message, exit_code=1)
