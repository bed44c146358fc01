"""Errors that reach the user as one sentence and a non-zero exit, never as a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix (a wrong path, an unknown option, a missing dataset).

    The CLI prints the message as one line and exits with ``exit_code``.
    """

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
