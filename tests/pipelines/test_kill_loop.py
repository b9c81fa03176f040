"""20 SIGKILLs at random moments across runs with many small shards (real CLI processes, publish slowed
a little so that kills land in it too): every outcome is the old release complete or the new one."""
import random
import time
from collections import Counter

from tests.pipelines.release_check import (kill_group, release_state, run_cli, start_cli,
                                           unlisted_files, write_config, write_rows)

KILLS = 20


def test_random_kills_leave_old_or_new_release_complete(tmp_path):
    out = str(tmp_path / "out")
    configs = [write_config(tmp_path / f"{k}.yaml", str(write_rows(tmp_path / f"{k}.jsonl", k, n=60)), out,
                            shard_rows=2) for k in "ab"]
    started = time.monotonic()
    rc, _, err = run_cli("run", str(configs[0]))
    assert rc == 0, err[-1500:]
    full_run_s = time.monotonic() - started
    run_id_of = {0: release_state(out)}  # config index -> run id of its release, once seen
    outcomes: Counter = Counter()
    rng = random.Random(13)
    for n in range(KILLS):
        before = release_state(out)
        target = 1 if before == run_id_of[0] else 0
        proc = start_cli("run", str(configs[target]), INSTRUCTPIPE_TEST_CRASH="pause:0.03")
        time.sleep(rng.uniform(0.2, full_run_s * 1.3))
        kill_group(proc)
        after = release_state(out)  # raises if a listed file is missing or altered
        if after == before:
            outcomes["old"] += 1
        else:
            assert after == run_id_of.setdefault(target, after), f"kill {n}: neither the old nor the new release"
            outcomes["new"] += 1
    print(f"kills={KILLS} old_complete={outcomes['old']} new_complete={outcomes['new']} full_run_s={full_run_s:.1f}")
    rc, _, err = run_cli("run", str(configs[0]))
    assert rc == 0, err[-1500:]
    assert release_state(out) == run_id_of[0] and unlisted_files(out) == []
    assert outcomes["old"] + outcomes["new"] == KILLS
