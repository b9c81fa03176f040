"""Input errors, importable without Ray (the CLI maps them to exit code 2)."""


class InputError(RuntimeError):
    """An input is missing or cannot be read as a whole; names the path."""
