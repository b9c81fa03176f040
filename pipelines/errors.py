"""How a failure reaches the user: one line on stderr and the documented exit code.

Errors raised inside Ray arrive wrapped (RayTaskError, ActorDiedError, ...); the user sees the
project's own error inside them. Importing this module imports no Ray.
"""
from __future__ import annotations

import os
import sys

EXIT_FAILED = 1
EXIT_USAGE = 2


class AccountingError(RuntimeError):
    """Rows in != rows out + rejected somewhere: the run publishes nothing."""


def usage_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "change the config or the input" (exit 2)."""
    from operators.llm.endpoint import ConfigurationError
    from pipelines.config import ConfigError
    from pipelines.io.errors import InputError
    from pipelines.local_llm import LocalLLMUnavailable
    return ConfigError, InputError, ConfigurationError, LocalLLMUnavailable


def report(err: BaseException) -> int:
    """Print the error as one clear line; the exit code for it."""
    cause = root_cause(err)
    if isinstance(cause, usage_errors()):
        print(f"error: {cause}; nothing was published", file=sys.stderr)
        return EXIT_USAGE
    from pipelines.local_server import LocalServerError
    if isinstance(cause, LocalServerError):
        print(f"error: {cause}", file=sys.stderr)
        return EXIT_FAILED
    if isinstance(cause, AccountingError):
        print(f"error: {cause}; nothing was published", file=sys.stderr)
        return EXIT_FAILED
    if os.environ.get("INSTRUCTPIPE_DEBUG"):
        raise err
    print(f"error: the run failed, nothing was published: {type(cause).__name__}: {cause}", file=sys.stderr)
    return EXIT_FAILED


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
