"""Run a pipeline config (JSON on argv[1]) on a `ray.cluster_utils.Cluster` of argv[2] nodes (default 2);
print the manifest.

Used by tests in a subprocess, since a test session already holds a local Ray.
"""
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    import ray
    from ray.cluster_utils import Cluster

    sys.path.insert(0, str(REPO))
    from pipelines.config import validate
    from pipelines.runner import run_pipeline

    raw = json.loads(sys.argv[1])
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "object_store_memory": 500 * 2**20,
                                                           "include_dashboard": False})
    for _ in range(int(sys.argv[2]) - 1 if len(sys.argv) > 2 else 1):
        cluster.add_node(num_cpus=2, object_store_memory=500 * 2**20)
    try:
        ray.init(address=cluster.address, runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})
        nodes = len([n for n in ray.nodes() if n["Alive"]])
        manifest = run_pipeline(validate(raw, "<cluster>"), raw, address=cluster.address)
        manifest["nodes"] = nodes
        print("MANIFEST=" + json.dumps(manifest))
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    main()
