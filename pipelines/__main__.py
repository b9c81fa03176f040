"""`python -m pipelines run CONFIG | validate CONFIG | refresh CONFIG | inspect OUTPUT | report OUTPUT |
batches ACTION URI`.

`validate`, `inspect` and `--help` never import Ray: only `run` does, after every check has passed.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from pipelines.errors import EXIT_USAGE, report

INTERRUPTED = 130


class _InputAction(argparse.Action):
    """`--input URI` appends an input; `--fields a=b,...` gives the mapping of the input before it."""

    def __call__(self, parser, namespace, value, option_string=None):
        inputs = getattr(namespace, "inputs", None) or []
        if option_string == "--input":
            inputs.append({"uri": value})
        elif not inputs:
            parser.error("--fields applies to the --input before it: give --input URI first")
        else:
            from pipelines.config import ConfigError, parse_fields
            try:
                inputs[-1]["fields"] = parse_fields(value)
            except ConfigError as err:
                parser.error(str(err))
        namespace.inputs = inputs


def _config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config")
    parser.add_argument("--input", action=_InputAction, dest="inputs", default=[], metavar="URI",
                        help="input URI (repeatable); replaces the config's inputs and their field mapping")
    parser.add_argument("--fields", action=_InputAction, dest="inputs", metavar="FIELD=SOURCE,...",
                        help="field mapping of the --input before it, e.g. instruction=question,output=answer")
    parser.add_argument("--output", help="output URI; replaces the config's")
    parser.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="instructpipe", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a pipeline config")
    _config_options(run)
    run.add_argument("--address", help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray)")
    run.add_argument("--json", action="store_true", help="print the manifest as JSON at the end")
    run.add_argument("--progress", choices=("auto", "live", "lines", "off"), default="auto",
                     help="live table on a terminal, compact lines otherwise (auto), or none (off)")
    run.add_argument("--progress-interval", type=float, default=10.0, metavar="S",
                     help="seconds between compact progress lines (default 10)")
    run.add_argument("--ray-progress", action="store_true", help="show Ray Data's own progress bars too")
    _config_options(sub.add_parser("validate", help="check a config and its inputs, output and endpoint; run nothing"))
    ref = sub.add_parser("refresh", help="publish the next versioned release under the output root, "
                                         "processing only rows no earlier release processed (docs/refresh.md)")
    _config_options(ref)
    ref.add_argument("--address", help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray)")
    ref.add_argument("--dry-run", action="store_true",
                     help="count new rows, cached answers and the estimated cost; call no model, write nothing")
    ref.add_argument("--force-unlock", action="store_true",
                     help="take the root's lock over even if its holder looks alive (logged)")
    ref.add_argument("--json", action="store_true", help="print the manifest (or the plan) as JSON at the end")
    ins = sub.add_parser("inspect", help="summarise a published output")
    ins.add_argument("output")
    rep = sub.add_parser("report", help="write a published output's HTML report")
    rep.add_argument("output")
    rep.add_argument("--out", help="where to write it (default: OUTPUT/report.html)")
    rep.add_argument("--verb-sample", type=int, default=None, metavar="N",
                     help="instructions parsed for the verb-noun chart (default 2000; 0: all)")
    bat = sub.add_parser("batches", help="list, check or cancel the LLM batches recorded for an output or cache")
    bat.add_argument("action", choices=("list", "status", "cancel"))
    bat.add_argument("uri", metavar="OUTPUT_OR_CACHE_URI")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "inspect":
            return inspect(args.output)
        if args.command == "report":
            return write_report(args.output, args.out, args.verb_sample)
        if args.command == "refresh":
            from pipelines.refresh import refresh_command
            return refresh_command(args)
        if args.command == "batches":
            from pipelines.batch.cli import main as batches
            return batches(args.action, args.uri)
        return configured(args)
    except KeyboardInterrupt:
        print("interrupted: nothing new was published (the previous release, if any, is untouched); "
              "run the same command again to resume: answers already received are cached", file=sys.stderr)
        return INTERRUPTED
    except Exception as err:
        return report(err)


def configured(args: argparse.Namespace) -> int:
    """`run` / `validate` of one config or of a multi-pipeline config."""
    from pipelines import multi
    from pipelines.config import load_config
    from pipelines.preflight import check_before_work
    if multi.is_multi(args.config):  # a `pipelines:` list (configs/gpt4_llm.yaml)
        loaded = multi.load_multi(args.config, args.overrides, args.inputs, args.output)
    else:
        loaded = [load_config(args.config, args.overrides, args.inputs, args.output)]
    for cfg, _ in loaded:
        check_before_work(cfg, list_remote=args.command == "run")
    if args.command == "validate":
        for cfg, _ in loaded:
            print(f"{args.config}: {cfg.name}: ok ({len(cfg.stages)} stages: "
                  f"{', '.join(s.name for s in cfg.stages) or '-'}) -> {cfg.output.uri}")
        return 0
    from pipelines import progress
    from pipelines.runner import run_pipeline
    progress.configure(args.progress, args.progress_interval, args.ray_progress)
    for cfg, raw in loaded:  # each pipeline's summary as soon as it ends
        print_summary(cfg, run_pipeline(cfg, raw, address=args.address), args.json, len(loaded) > 1)
    return 0


def print_summary(cfg, manifest: dict, as_json: bool, heading: bool) -> None:
    from pipelines.card import summary_table
    if heading:
        print(f"== {cfg.name}")
    print(summary_table(manifest))
    print(f"published {cfg.output.uri} (run {manifest['run_id']}, {manifest['elapsed_s']} s)")
    budget = sum(s["reasons"].get("budget_exhausted", 0) for s in manifest["stages"])
    if budget:
        print(f"budget reached: {budget} row(s) were not sent (rejects reason budget_exhausted); raise "
              f"endpoint.max_cost_usd / max_requests and rerun to resume: cached answers are free")
    if as_json:
        print(json.dumps(manifest, ensure_ascii=False))
    sys.stdout.flush()


def inspect(output: str) -> int:
    from pipelines.card import summary_table
    from pipelines.io.layout import ManifestError, read_manifest
    try:
        manifest = read_manifest(output)
    except (FileNotFoundError, ManifestError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{manifest['name']}: run {manifest['run_id']}, config {manifest['config_hash'][:12]}")
    print(summary_table(manifest))
    return 0


def write_report(output: str, out: str | None, verb_sample: int | None) -> int:
    from pipelines.io.layout import ManifestError, read_manifest
    from pipelines.report import DEFAULT_SAMPLE, write_report as write
    try:
        manifest = read_manifest(output)
    except (FileNotFoundError, ManifestError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(write(output, manifest, out, DEFAULT_SAMPLE if verb_sample is None else verb_sample or None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
