"""How a failure reaches the user: one line on stderr and the documented exit code.

Errors raised inside Ray arrive wrapped (RayTaskError, ActorDiedError, ...); the user sees the
project's own error inside them. Importing this module imports no Ray.
"""
from __future__ import annotations

import os
import sys

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
EXIT_WAITING = 4


class WaitingForBatchResults(RuntimeError):
    """batch_file mode: request files are written; a later run reads their results (exit 4)."""


class AccountingError(RuntimeError):
    """Rows in != rows out + rejected somewhere: the run publishes nothing."""


def describe(cause: BaseException) -> tuple[int, str]:
    """(exit code, message) for an error: the project's own errors name what went wrong."""
    from operators.llm.breaker import EndpointFailing
    from operators.llm.endpoint import ConfigurationError
    from pipelines.config import ConfigError
    from pipelines.io.errors import InputError
    from pipelines.io.lock import LockHeld, LockLost, OutputNotWritable
    from pipelines.local_llm import LocalLLMUnavailable
    from pipelines.local_server import LocalServerError
    if isinstance(cause, WaitingForBatchResults):
        return EXIT_WAITING, f"waiting for results: {cause}"
    if isinstance(cause, LockHeld):
        return EXIT_LOCKED, f"{cause}; nothing was published"
    if isinstance(cause, (ConfigError, InputError, LocalLLMUnavailable, ConfigurationError, OutputNotWritable)):
        return EXIT_USAGE, f"{cause}; nothing was published"
    if isinstance(cause, (EndpointFailing, AccountingError, LockLost)):
        return EXIT_FAILED, f"{cause}" if "nothing was published" in str(cause) else f"{cause}; nothing was published"
    if isinstance(cause, LocalServerError):
        return EXIT_FAILED, str(cause)
    return EXIT_FAILED, f"the run failed, nothing was published: {type(cause).__name__}: {cause}"


def report(err: BaseException) -> int:
    """Print the error as one clear line (secrets redacted); the exit code for it."""
    from pipelines.redact import redact_text
    code, message = describe(root_cause(err))
    if code == EXIT_FAILED and os.environ.get("INSTRUCTPIPE_DEBUG"):
        raise err
    print(f"error: {redact_text(message)}", file=sys.stderr)
    return code


def root_cause(err: BaseException) -> BaseException:
    """The user's exception inside Ray's wrappers (RayTaskError and friends)."""
    seen = set()
    while id(err) not in seen:
        seen.add(id(err))
        inner = getattr(err, "cause", None) or err.__cause__
        if not isinstance(inner, BaseException):
            return err
        err = inner
    return err
