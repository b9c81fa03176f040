"""The scheduling examples in deploy/: each parses, has the fields its scheduler needs, runs a command
the CLI accepts on a config that validates, and holds no secret (the key comes from a Secret / env file)."""
import re
import shlex
from pathlib import Path

import yaml

from pipelines.__main__ import parse_args
from pipelines.config import load_config

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def check_schedule(fields: list[str]) -> None:
    assert len(fields) == 5, fields
    for field, (low, high) in zip(fields, RANGES):
        assert CRON_FIELD.match(field), field
        assert all(low <= int(n) <= high for n in re.findall(r"\d+", field.split("/")[0])), field


def check_refresh(argv: list[str]) -> None:
    """`instructpipe refresh ...` as the CLI parses it, on a config that loads with those options."""
    args = parse_args(argv)
    assert args.command == "refresh" and (REPO / args.config).is_file()
    cfg, _ = load_config(str(REPO / args.config), args.overrides, args.inputs, args.output)
    assert cfg.output.uri == args.output and any(s.name == "dedup" for s in cfg.stages)
    assert not any("sk-" in part for part in argv)


def after_pipelines(words: list[str]) -> list[str]:
    assert words[:3] == ["python", "-m", "pipelines"], words
    return words[3:]


def test_crontab_line():
    lines = [line for line in (DEPLOY / "crontab").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) == 1
    words = lines[0].split()
    check_schedule(words[:5])
    command = shlex.split(" ".join(words[5:]))
    start = next(i for i, w in enumerate(command) if w.endswith("instructpipe") and command[i + 1] == "refresh")
    end = command.index(">>")
    check_refresh(command[start + 1:end])
    assert ". /etc/instructpipe/refresh.env" in lines[0]  # the key from a file only its user reads


def test_kubernetes_cronjob_submits_to_an_existing_cluster():
    from ray.dashboard.modules.job.cli import submit
    doc = yaml.safe_load((DEPLOY / "cronjob.yaml").read_text())
    assert doc["apiVersion"] == "batch/v1" and doc["kind"] == "CronJob"
    check_schedule(doc["spec"]["schedule"].split())
    assert doc["spec"]["concurrencyPolicy"] == "Forbid"
    pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    (container,) = pod["containers"]
    command = container["command"]
    assert command[:3] == ["ray", "job", "submit"]
    params = submit.make_context("submit", command[3:]).params  # Ray's own CLI parses the options
    assert params["address"].startswith("http://") and params["working_dir"]
    check_refresh(after_pipelines(list(params["entrypoint"])))
    assert all("valueFrom" in e or "KEY" not in e["name"] for e in container.get("env", []))


def test_kuberay_rayjob_takes_the_key_from_a_secret():
    doc = yaml.safe_load((DEPLOY / "rayjob.yaml").read_text())
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == "RayJob"
    spec = doc["spec"]
    check_refresh(after_pipelines(shlex.split(spec["entrypoint"])))
    assert spec["shutdownAfterJobFinishes"] is True
    cluster = spec["rayClusterSpec"]
    groups = [cluster["headGroupSpec"]] + cluster["workerGroupSpecs"]
    assert all("rayStartParams" in g for g in groups) and all(g["groupName"] for g in cluster["workerGroupSpecs"])
    for group in groups:
        for container in group["template"]["spec"]["containers"]:
            assert container["image"] and container["name"]
            env = {e["name"]: e for e in container["env"]}
            assert env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "OPENAI_API_KEY"
