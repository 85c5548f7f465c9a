"""Errors that are the user's to fix: the CLI prints them as one line and exits with code 2."""


class UsageError(ValueError):
    """A bad argument, file or setting; the message names the problem and the fix."""


class ServiceError(RuntimeError):
    """An outside service (a VLM API) kept failing after retries: the run stops cleanly and resumes from its journal."""
