"""The one error hierarchy; the CLI boundary turns each into a one-line message and exit code."""

from __future__ import annotations


class BackpropError(Exception):
    """Base of every error backprop reports to a user.

    Each class carries how it is reported: ``exit_code`` at the command line (listed under
    "Exit codes" in docs/architecture.md), ``http_status`` and ``title`` in the web viewer.
    ``hint`` says what to do about it; it follows the message after a semicolon.
    """

    exit_code: int = 1
    http_status: int = 500
    title: str = "Error"
    #: Printed as ``backprop: error: …``; otherwise as ``backprop: …`` (a stop the user asked for).
    is_error: bool = True

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class UsageError(BackpropError):
    """Bad command-line usage; nothing started."""

    exit_code = 2
    http_status = 400
    title = "Bad request"


class ConfigError(BackpropError):
    """Invalid or missing configuration; nothing started. ``problems`` lists every finding:
    one is shown on the message's line, several one per line under it."""

    exit_code = 2

    def __init__(self, message: str, problems: list[str] | None = None, *, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problems = problems or []

    def __str__(self) -> str:
        if not self.problems:
            return super().__str__()
        if len(self.problems) == 1:
            return f"{self.message}: {self.problems[0]}"
        head = f"{self.message} ({len(self.problems)} problems):"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


class PluginError(BackpropError):
    """A plugin could not be loaded or registered (strict mode, duplicate names)."""

    exit_code = 2


class ProbeError(BackpropError):
    """A resource probe could not read the machine (driver missing, timeout, garbage output)."""

    exit_code = 1


class AdmissionRefused(BackpropError):
    """The governor refused the run, or the wait for resources timed out; nothing started."""

    exit_code = 3


class StoreError(BackpropError):
    """The run store cannot be read or written (read-only home, full disk, locked)."""

    exit_code = 1
    http_status = 503
    title = "Store unavailable"


class StoreFull(StoreError):
    """The disk holding the store is full or over quota (ENOSPC, EDQUOT, SQLITE_FULL): nothing
    is wrong with the store itself, and nothing should be moved aside."""


class StoreCorrupt(StoreError):
    """A store file was unreadable and was moved aside; ``backup`` names where it went."""

    def __init__(self, message: str, backup: str | None = None, *, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.backup = backup


class RunNotFound(BackpropError):
    """No run matches the given id, prefix, name or suffix."""

    exit_code = 2
    http_status = 404
    title = "Run not found"


class AmbiguousRun(BackpropError):
    """A prefix, name or suffix matches several runs; ``candidates`` lists their ids."""

    exit_code = 2
    http_status = 409
    title = "Ambiguous run"

    def __init__(self, ref: str, candidates: list[str]) -> None:
        shown = ", ".join(candidates[:10]) + (" …" if len(candidates) > 10 else "")
        super().__init__(
            f"'{ref}' matches {len(candidates)} runs: {shown}", hint="give more of the id"
        )
        self.candidates = candidates


class RunStateError(BackpropError):
    """The run is in a state that does not allow the operation (e.g. resuming an active run)."""

    exit_code = 2
    http_status = 409
    title = "Wrong run state"


class LaunchError(BackpropError):
    """The training process could not be started (script missing, interpreter not found)."""

    exit_code = 2


class RemoteError(BackpropError):
    """Another machine could not be reached or used over SSH: unknown host key, refused key,
    dead connection, no backprop there. Nothing was changed on either side."""

    exit_code = 2


class RemoteCommandFailed(BackpropError):
    """backprop on another machine answered with an error; its exit code comes through."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class TrainingFailed(BackpropError):
    """The training process failed: non-zero exit, crash or killed by something else."""

    exit_code = 1


class HomeNotFound(UsageError):
    """A command that only reads runs was pointed at a home that does not exist; nothing is
    created there."""

    http_status = 404
    title = "No backprop home"


class UserInterrupted(BackpropError):
    """The user stopped the run (Ctrl-C, ``backprop stop``, a signal). Not reported as an
    error: the run ended the way it was asked to."""

    exit_code = 130
    is_error = False


class RunFinished(BackpropError, RuntimeError):
    """A training script logged to a run after ``finish()`` (a ``RuntimeError`` too, as it
    always was)."""

    exit_code = 1
