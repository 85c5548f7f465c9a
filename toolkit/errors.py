"""Errors that are the user's to fix: the CLI prints them as one line and exits with code 2."""


class UsageError(ValueError):
    """A bad argument, file or setting; the message names the problem and the fix."""


class BudgetError(UsageError):
    """The NFE budget cannot pay for the search as set (bench marks such a cell infeasible instead of failing)."""


class ServiceError(RuntimeError):
    """An outside service (a VLM API) kept failing after retries: the run stops cleanly and resumes from its journal."""


class PeerLost(ServiceError):
    """Another process of a distributed run died or stopped answering: this one stops cleanly (exit code 1)."""


class Stopped(RuntimeError):
    """The run was asked to stop (SIGTERM: ``kill``, a scheduler's preemption; Ctrl-C) and stopped after a journaled
    round; ``exit_code`` is what a shell reports for the signal (143 for SIGTERM, 130 for Ctrl-C)."""

    def __init__(self, message: str, exit_code: int = 143):
        super().__init__(message)
        self.exit_code = exit_code


def first_line(error: BaseException, limit: int = 200) -> str:
    """An exception's first line (or its type's name), cut to ``limit`` characters, for one-line messages."""
    lines = str(error).strip().splitlines()
    return lines[0][:limit] if lines else type(error).__name__


def peer_lost(rank: int, world: int, error: BaseException, out: str) -> PeerLost:
    """The one-line error of a collective that failed because another rank is gone."""
    return PeerLost(f"rank {rank} of {world} lost another process of the run ({first_line(error, 160)}); every "
                    f"candidate evaluated so far is in the journal: `noisesearch resume {out}` completes the run on "
                    "any device count")


def version() -> str:
    """This installation's version (the distribution's metadata; the one number, kept in pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("noisesearch")
    except PackageNotFoundError:
        return "0+unknown"
