"""`python -m pipelines run CONFIG | validate CONFIG | inspect OUTPUT`."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from pipelines.redact import redact_text

EXIT_USAGE = 2
EXIT_LOCKED = 3


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="instructpipe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a pipeline config")
    run.add_argument("config")
    run.add_argument("--input", action="append", default=[], help="input URI (repeatable); replaces the config's")
    run.add_argument("--output", help="output URI; replaces the config's")
    run.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE")
    run.add_argument("--address", help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray)")
    run.add_argument("--json", action="store_true", help="print the manifest as JSON at the end")
    val = sub.add_parser("validate", help="check a config without running it")
    val.add_argument("config")
    val.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE")
    ins = sub.add_parser("inspect", help="summarise a published output")
    ins.add_argument("output")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "inspect":
            return inspect(args.output)
        from pipelines import multi
        from pipelines.config import load_config
        if multi.is_multi(args.config):  # a `pipelines:` list (configs/gpt4_llm.yaml)
            return multi.cli(args)
        cfg, raw = load_config(args.config, args.overrides, getattr(args, "input", []), getattr(args, "output", None))
        if args.command == "validate":
            print(f"{args.config}: ok ({len(cfg.stages)} stages: {', '.join(s.name for s in cfg.stages) or '-'})")
            return 0
        return run(cfg, raw, args)
    except Exception as err:  # a failed run: one clear line (the traceback with INSTRUCTPIPE_DEBUG=1)
        cause = root_cause(err)
        code, message = describe_failure(cause)
        if code == 1 and os.environ.get("INSTRUCTPIPE_DEBUG"):
            raise
        print(f"error: {redact_text(message)}", file=sys.stderr)
        return code


def describe_failure(cause: BaseException) -> tuple[int, str]:
    """(exit code, message) for an error: the project's own errors name what went wrong."""
    from operators.llm.breaker import EndpointFailing
    from operators.llm.endpoint import ConfigurationError
    from pipelines.accounting import AccountingError
    from pipelines.config import ConfigError
    from pipelines.io.lock import LockHeld, LockLost, OutputNotWritable
    from pipelines.io.readers import InputError
    from pipelines.local_llm import LocalLLMUnavailable, LocalServerError
    if isinstance(cause, LockHeld):
        return EXIT_LOCKED, f"{cause}; nothing was published"
    if isinstance(cause, (ConfigError, InputError, LocalLLMUnavailable, ConfigurationError, OutputNotWritable)):
        return EXIT_USAGE, f"{cause}; nothing was published"
    if isinstance(cause, (EndpointFailing, AccountingError, LockLost)):
        return 1, f"{cause}" if "nothing was published" in str(cause) else f"{cause}; nothing was published"
    if isinstance(cause, LocalServerError):
        return 1, str(cause)
    return 1, f"the run failed, nothing was published: {type(cause).__name__}: {cause}"


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


def run(cfg, raw, args) -> int:
    from pipelines.card import summary_table
    from pipelines.runner import run_pipeline
    manifest = run_pipeline(cfg, raw, address=args.address)
    print(summary_table(manifest))
    print(f"published {cfg.output.uri} (run {manifest['run_id']}, {manifest['elapsed_s']} s)")
    budget = sum(s["reasons"].get("budget_exhausted", 0) for s in manifest["stages"])
    if budget:
        print(f"budget reached: {budget} row(s) were not sent (rejects reason budget_exhausted); raise "
              f"endpoint.max_cost_usd / max_requests and rerun to resume: cached answers are free")
    if args.json:
        print(json.dumps(manifest, ensure_ascii=False))
    return 0


def inspect(output: str) -> int:
    from pipelines.card import summary_table
    from pipelines.io.publish import ManifestError, read_manifest
    try:
        manifest = read_manifest(output)
    except (FileNotFoundError, ManifestError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{manifest['name']}: run {manifest['run_id']}, config {manifest['config_hash'][:12]}")
    print(summary_table(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
