"""Export layouts of published rows."""
import json

from pipelines.io.exports import self_instruct_task


def test_self_instruct_task_takes_instances_from_meta_else_the_row():
    meta = {"instances": [{"input": "a", "output": "b"}, {"input": "", "output": "c"}], "is_classification": True}
    row = {"id": "r1", "instruction": "Label it.", "input": "a", "output": "b", "meta": json.dumps(meta)}
    assert self_instruct_task(row) == {"id": "r1", "instruction": "Label it.", "is_classification": True,
                                       "instances": meta["instances"]}
    plain = {"id": "r2", "instruction": "Say hi.", "input": None, "output": "Hi!", "meta": None}
    assert self_instruct_task(plain) == {"id": "r2", "instruction": "Say hi.", "is_classification": False,
                                         "instances": [{"input": "", "output": "Hi!"}]}
