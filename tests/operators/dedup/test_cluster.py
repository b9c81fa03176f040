"""Two-node Ray cluster gives the same kept rows as one local block (kept small)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

SCRIPT = r"""
import json, sys
import pyarrow as pa, ray
from ray.cluster_utils import Cluster
from operators.base import StageContext
from operators.dedup.local import dedup_table
from operators.dedup.stage import Dedup, DedupConfig
from pipelines.engine import RayEngine
from tests.operators.dedup.dedup_corpus import instructions, table

data = table(instructions(600, seed=11))
local, _ = dedup_table(Dedup(DedupConfig()), data)
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
cluster.add_node(num_cpus=1)
try:
    ray.init(address=cluster.address, log_to_driver=False)
    out = Dedup(DedupConfig(band_groups=2), StageContext("dedup")).apply(ray.data.from_arrow(data).repartition(4), RayEngine())
    out = pa.concat_tables([ray.get(r) for r in out.to_arrow_refs()])
    kept = lambda t: sorted(t.filter(t.column("reason").is_null()).column("source").to_pylist())
    print(json.dumps({"same": kept(out) == kept(local), "rows": out.num_rows, "removed": local.num_rows - len(kept(local))}))
finally:
    ray.shutdown()
    cluster.shutdown()
"""


@pytest.mark.cluster
def test_two_node_cluster_matches_local_run():
    env = dict(os.environ, PYTHONPATH=str(REPO), RAY_USAGE_STATS_ENABLED="0")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = __import__("json").loads(proc.stdout.strip().splitlines()[-1])
    assert result["same"] and result["rows"] == 600 and result["removed"] > 0
