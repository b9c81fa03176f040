"""SIGKILL at each named point of publishing (real CLI processes), locally and on moto's S3: a reader
trusting only `_manifest.json` sees the old release complete or the new one complete, and the next
run succeeds and leaves no unlisted files. Two runs on one output: the second exits 3 naming the first."""
import json
import socket
import time

from tests.pipelines.release_check import (finish, release_state, run_cli, start_cli, unlisted_files,
                                           write_config, write_rows)

# (kill point, input of the killed run, which release must be live afterwards)
CHAIN = [("move", "b", "a"), ("manifest", "b", "a"), ("committed", "b", "b"), ("gc", "a", "b")]


def run_ok(config, **env) -> str:
    rc, out, err = run_cli("run", str(config), **env)
    assert rc == 0, err[-2000:]
    return out


def crash_chain(tmp_path, output_uri):
    inputs = {k: write_rows(tmp_path / f"{k}.jsonl", k.upper()) for k in "ab"}
    configs = {k: write_config(tmp_path / f"{k}.yaml", str(inputs[k]), output_uri) for k in "ab"}
    run_ok(configs["a"])
    run_ids = {"a": release_state(output_uri)}
    for point, source, expected in CHAIN:
        rc, _, err = run_cli("run", str(configs[source]), INSTRUCTPIPE_TEST_CRASH=f"kill:{point}")
        assert rc == -9, f"the run was not killed at {point}: rc={rc} {err[-1500:]}"
        live = release_state(output_uri)
        if expected not in run_ids:
            run_ids[expected] = live
        assert live == run_ids[expected], f"after a kill at {point}: live {live}, expected release {expected}"
    run_ok(configs["a"])
    assert release_state(output_uri) == run_ids["a"]
    assert unlisted_files(output_uri) == []
    assert run_ids["a"] != run_ids["b"]


def test_kill_at_every_publish_point_local(tmp_path):
    crash_chain(tmp_path, str(tmp_path / "out"))
    assert not (tmp_path / "out" / "_staging").exists()
    assert not (tmp_path / "out" / "_lock.json").exists()


def test_kill_at_every_publish_point_s3(tmp_path, s3_bucket):
    import boto3
    output = f"s3://{s3_bucket}/release"
    crash_chain(tmp_path, output)
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert not [k for k in keys if "_staging" in k or k.endswith("_lock.json")], keys


def test_overlapping_run_exits_3_naming_the_holder(tmp_path):
    out = tmp_path / "out"
    config = write_config(tmp_path / "a.yaml", str(write_rows(tmp_path / "a.jsonl", "A")), str(out))
    first = start_cli("run", str(config), INSTRUCTPIPE_TEST_CRASH="pause:1.5")  # slow publish
    try:
        deadline = time.monotonic() + 600
        while not (out / "_lock.json").exists() and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.1)
        holder = json.loads((out / "_lock.json").read_text())
        rc, _, err = run_cli("run", str(config))
        assert rc == 3, err[-1500:]
        assert f"pid {first.pid}" in err and socket.gethostname() in err and holder["started"] in err
    finally:
        rc_first, _, err_first = finish(first)
    assert rc_first == 0, err_first[-1500:]
    assert release_state(str(out)) is not None and not (out / "_lock.json").exists()


def test_lock_of_a_killed_run_is_taken_over(tmp_path):
    out = tmp_path / "out"
    config = write_config(tmp_path / "a.yaml", str(write_rows(tmp_path / "a.jsonl", "A")), str(out))
    rc, _, _ = run_cli("run", str(config), INSTRUCTPIPE_TEST_CRASH="kill:manifest")
    assert rc == -9 and (out / "_lock.json").exists() and release_state(str(out)) is None
    rc, _, err = run_cli("run", str(config))
    assert rc == 0 and "took over the lock" in err, err[-1500:]
    assert release_state(str(out)) is not None
