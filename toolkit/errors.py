"""Errors that are the user's to fix: the CLI prints them as one line and exits with code 2."""


class UsageError(ValueError):
    """A bad argument, file or setting; the message names the problem and the fix."""


class ServiceError(RuntimeError):
    """An outside service (a VLM API) kept failing after retries: the run stops cleanly and resumes from its journal."""


class PeerLost(ServiceError):
    """Another process of a distributed run died or stopped answering: this one stops cleanly (exit code 1)."""


def peer_lost(rank: int, world: int, error: BaseException, out: str) -> PeerLost:
    """The one-line error of a collective that failed because another rank is gone."""
    first = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
    return PeerLost(f"rank {rank} of {world} lost another process of the run ({first}); every candidate evaluated "
                    f"so far is in the journal: `noisesearch resume {out}` completes the run on any device count")
