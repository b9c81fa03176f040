"""Pipeline assembly: config, CLI, I/O and accounting around the operators."""

VERSION = "0.1.0"
