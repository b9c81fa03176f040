"""The peer's pipeline on the same rows, for `benchmarks.pipeline`: DataTrove's local executor doing
reader -> a simple filter -> its four-step MinHash dedup (5-grams) -> writer, on one field set of the
52K parallel file. Run with an interpreter that has `datatrove` installed (it is not a dependency of
this project): `DATATROVE_PYTHON=/path/to/python python -m benchmarks.pipeline`.
Usage: python benchmarks/datatrove_run.py PARALLEL_FILE LANG WORKDIR
"""
from __future__ import annotations

import sys


def main(source: str, lang: str, workdir: str) -> None:
    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
                                                  MinhashDedupFilter)
    from datatrove.pipeline.filters import LambdaFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers.jsonl import JsonlWriter

    def adapter(self, data: dict, path: str, id_in_file) -> dict:
        text = "\n".join(t for t in (data.get(f"{lang}_instruction"), data.get(f"{lang}_input")) if t)
        return {"text": text, "id": f"{path}/{id_in_file}", "metadata": {"output": data.get(f"{lang}_output")}}

    folder, name = source.rsplit("/", 1)
    config = MinhashConfig(n_grams=5)

    def reader():
        return JsonlReader(folder, glob_pattern=name, adapter=adapter, compression="gzip")

    stages = [
        [reader(), LambdaFilter(lambda doc: len(doc.text.strip()) > 0),
         MinhashDedupSignature(output_folder=f"{workdir}/signatures", config=config)],
        [MinhashDedupBuckets(input_folder=f"{workdir}/signatures", output_folder=f"{workdir}/buckets", config=config)],
        [MinhashDedupCluster(input_folder=f"{workdir}/buckets", output_folder=f"{workdir}/remove_ids", config=config)],
        [reader(), LambdaFilter(lambda doc: len(doc.text.strip()) > 0),
         MinhashDedupFilter(input_folder=f"{workdir}/remove_ids"), JsonlWriter(f"{workdir}/output")],
    ]
    for n, pipeline in enumerate(stages):
        tasks = config.num_buckets if n == 1 else 1
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1, logging_dir=f"{workdir}/logs/{n}").run()


if __name__ == "__main__":
    main(*sys.argv[1:4])
