"""`instructpipe refresh`: versioned releases that pay only for new rows (locally and on moto's S3).

A directory of inputs where files land: v=1, then a new file and a file repeating and near-duplicating
v=1's rows -> v=2 holds exactly the new unique rows on top of v=1's; the teacher saw requests only for
the new rows; latest.json -> v=2; loading it yields the union with no duplicate ids."""
import json

import pytest

from operators import storage
from pipelines.__main__ import main
from tests.support.llm_fixtures import endpoint_settings

pytestmark = pytest.mark.usefixtures("ray_session")

FIRST = [f"Give three facts about planet number {i}." for i in range(24)]
NEW = ["Write a haiku about autumn leaves.", "Explain how a refrigerator keeps food cold.",
       "List four uses of baking soda in the kitchen."]
REPEATS = [FIRST[2], FIRST[7], FIRST[11]]  # exact copies: skipped as seen, never asked again
NEAR = ["Give three facts about the planet number 5.", "Please give three facts about planet number 9."]


def lines(instructions):
    return "".join(json.dumps({"instruction": t}) + "\n" for t in instructions).encode()


def write_config(path, inbox, root, server, **output):
    config = {"name": "daily", "lang": "en", "inputs": [{"uri": inbox}],
              "output": {"uri": root, "shard_rows": 50, **output}, "ray": {"batch_rows": 16},
              "endpoint": endpoint_settings(server, cache_uri=None),
              "stages": ["normalize", {"dedup": {}}, {"generate_response": {"max_tokens": 64}}]}
    path.write_text(json.dumps(config))
    return str(path)


def refresh(capsys, *args):
    code = main(["refresh", *args])
    out, err = capsys.readouterr()
    return code, out, err


def latest(root):
    return json.loads(storage.read_bytes(storage.join(root, "latest.json")))


def dataset_rows(root):
    """Every row of the full dataset, read through latest.json (what a consumer does)."""
    import gzip
    rows = []
    for path in latest(root)["data_files"]["jsonl"]:
        rows += [json.loads(line) for line in gzip.decompress(storage.read_bytes(storage.join(root, path))).splitlines()]
    return rows


def two_releases(tmp_path, capsys, server, inbox, root):
    config = write_config(tmp_path / "daily.json", inbox, root, server)
    storage.write_bytes(storage.join(inbox, "2026-12-01.jsonl"), lines(FIRST))
    code, out, err = refresh(capsys, config)
    assert code == 0, err[-2000:]
    assert latest(root)["version"] == 1 and latest(root)["rows"] == len(FIRST)
    assert server.total == len(FIRST)

    server.reset_counts()
    storage.write_bytes(storage.join(inbox, "2026-12-02.jsonl"), lines(NEW))
    storage.write_bytes(storage.join(inbox, "2026-12-03.jsonl"), lines(REPEATS + NEAR))
    code, out, err = refresh(capsys, config)
    assert code == 0, err[-2000:]
    assert server.total == len(NEW) and all(server.requests_for(t) == 1 for t in NEW)  # nothing else was asked
    pointer = latest(root)
    assert pointer["version"] == 2 and pointer["manifest"] == "releases/v=2/_manifest.json"
    manifest = json.loads(storage.read_bytes(storage.join(root, pointer["manifest"])))
    assert manifest["counts"]["output"] == len(NEW) and manifest["counts"]["skipped_seen"] == len(FIRST) + 3
    assert manifest["release"]["skipped_files"] == [storage.join(inbox, "2026-12-01.jsonl")]
    assert {s["name"]: s["reasons"] for s in manifest["stages"]}["dedup"] == {"near_duplicate": 2}
    rows = dataset_rows(root)
    assert sorted(r["instruction"] for r in rows) == sorted(FIRST + NEW)
    assert len({r["id"] for r in rows}) == len(rows)
    assert any(s["path"].startswith("releases/v=1/") for s in manifest["dataset"]["shards"])
    return config


def test_refresh_local(tmp_path, capsys, fake_openai):
    inbox, root = str(tmp_path / "inbox"), str(tmp_path / "root")
    config = two_releases(tmp_path, capsys, fake_openai, inbox, root)

    card = (tmp_path / "root/releases/v=2/README.md").read_text()  # the card's numbers and its one-liner
    assert "Release **v=2** (previous: v=1)" in card
    assert f"| new in this release | {len(NEW)} |" in card and f"| in the dataset | {len(FIRST + NEW)} |" in card
    assert f"| carried by reference from earlier releases (their shards, not copied) | {len(FIRST)} |" in card
    one_liner = card.split("```python\n", 1)[1].split("\n```", 1)[0]
    scope = {}
    exec(one_liner.replace('split="train")', f'split="train", cache_dir={str(tmp_path / "hf")!r})'), scope)
    ds = scope["ds"]
    assert ds.num_rows == len(FIRST + NEW) and len(set(ds["id"])) == ds.num_rows

    fake_openai.reset_counts()
    code, out, _ = refresh(capsys, config)  # nothing new
    assert code == 0 and "nothing new" in out and fake_openai.total == 0
    assert latest(root)["version"] == 2 and not (tmp_path / "root/releases/v=3").exists()

    extra = ["Describe the water cycle in two sentences.", FIRST[0]]
    storage.write_bytes(storage.join(inbox, "2026-12-04.jsonl"), lines(extra))
    code, out, _ = refresh(capsys, config, "--dry-run")
    assert code == 0 and fake_openai.total == 0 and not (tmp_path / "root/releases/v=3").exists()
    assert out.strip().splitlines()[-1].startswith("new_rows=1 skipped_seen=1 cached=0 requests=1 cost_usd_max=")


def test_refresh_s3(tmp_path, capsys, fake_openai, s3_bucket):
    two_releases(tmp_path, capsys, fake_openai, f"s3://{s3_bucket}/inbox", f"s3://{s3_bucket}/dataset")


def test_killed_refresh_keeps_latest_and_the_next_one_pays_nothing_twice(tmp_path, capsys, fake_openai):
    """SIGKILL after v=2's manifest but before latest.json; then a refresh that holds the lock refuses a
    concurrent one (exit 3 naming it), takes the dead run's lock over and publishes v=2 from the cache."""
    import time
    from tests.pipelines.release_check import finish, run_cli, start_cli
    inbox, root = tmp_path / "inbox", tmp_path / "root"
    config = write_config(tmp_path / "daily.json", str(inbox), str(root), fake_openai)
    inbox.mkdir()
    (inbox / "a.jsonl").write_bytes(lines(FIRST[:6]))
    assert refresh(capsys, config)[0] == 0
    (inbox / "b.jsonl").write_bytes(lines(NEW))
    fake_openai.reset_counts()
    rc, _, err = run_cli("refresh", config, INSTRUCTPIPE_TEST_CRASH="kill:latest")
    assert rc == -9, err[-2000:]
    assert latest(str(root))["version"] == 1 and (root / "releases/v=2/_manifest.json").exists()
    assert fake_openai.total == len(NEW) and (root / "_lock.json").exists()

    fake_openai.reset_counts()
    second = start_cli("refresh", config, INSTRUCTPIPE_TEST_CRASH="pause:0.2")
    try:
        deadline = time.monotonic() + 300
        while second.poll() is None and time.monotonic() < deadline:
            if (root / "_lock.json").exists() and json.loads((root / "_lock.json").read_text())["pid"] == second.pid:
                break
            time.sleep(0.1)
        code, _, err = refresh(capsys, config)
        assert code == 3 and f"pid {second.pid}" in err and "locked by another run" in err, err[-1500:]
    finally:
        rc, out, err = finish(second)
    assert rc == 0 and "took over the lock" in err and "released v=2" in out, err[-2000:]
    assert latest(str(root))["version"] == 2 and fake_openai.total == 0
    assert sorted(r["instruction"] for r in dataset_rows(str(root))) == sorted(FIRST[:6] + NEW)

    manifest = root / "releases/v=1/_manifest.json"  # a corrupted earlier manifest: named, nothing published
    manifest.write_text(manifest.read_text()[:200])
    (inbox / "c.jsonl").write_bytes(lines(NEAR))
    code, _, err = refresh(capsys, config)
    assert code == 2 and str(manifest) in err and "corrupted" in err and "nothing was published" in err
    assert latest(str(root))["version"] == 2 and not (root / "releases/v=3").exists() and fake_openai.total == 0
