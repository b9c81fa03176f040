"""The filters through the real runner on a local Ray: counts per filter and reason in the manifest."""
import json

import pytest

from tests.pipelines.helpers import check_balance, published_rows, run

pytestmark = pytest.mark.usefixtures("ray_session")

HANDMADE = [
    {"instruction": "给出保持健康的三个建议。", "output": ""},
    {"instruction": "给出保持健康的三个建议。", "output": "作为一个AI语言模型，我无法给出建议。"},
    {"instruction": "给出保持健康的三个建议。", "output": "Eat well, sleep well and exercise every single day."},
    {"instruction": "描述下面这张图片里的内容。", "output": "图片里有一只猫坐在窗台上。"},
    {"instruction": "说出一种颜色。", "output": "這個顏色是紅色，它是三原色之一，也是我們最喜歡的顏色。"},
]


def test_curate_zh_through_runner(data_dir, tmp_path):
    handmade = tmp_path / "handmade.jsonl"
    handmade.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in HANDMADE), encoding="utf-8")
    out = tmp_path / "out"
    manifest = run({
        "name": "filters-zh", "lang": "zh",
        "inputs": [{"uri": str(data_dir / "gpt4-llm-samples/alpaca_gpt4_zh_sample.json")},
                   {"uri": str(handmade)}],
        "output": {"uri": str(out), "formats": ["jsonl"]},
        "stages": [{"normalize": {"form": "NFKC"}}, {"response_filter": {}},
                   {"language_filter": {"lang": "zh", "traditional": "convert"}},
                   {"instruction_filter": {}}, {"length_filter": {}}],
    })
    sample = json.loads((data_dir / "gpt4-llm-samples/alpaca_gpt4_zh_sample.json").read_text(encoding="utf-8"))
    check_balance(manifest, len(sample) + len(HANDMADE), out)
    stages = {s["name"]: s for s in manifest["stages"]}
    assert stages["response_filter"]["reasons"]["empty"] == 1
    assert stages["response_filter"]["reasons"]["refusal"] >= 1
    assert stages["language_filter"]["reasons"]["wrong_language:output"] >= 1
    assert any(r.startswith("blacklist:") for r in stages["instruction_filter"]["reasons"])
    rows = published_rows(out)
    converted = [r for r in rows if "converted_t2s" in json.loads(r["meta"])]
    assert len(converted) >= 2  # the Traditional GPT-4 answer and the handmade one, now Simplified
    assert any(r["output"].startswith("这个颜色是红色") for r in converted)
    rejects = published_rows(out, "rejects")
    assert all(r["stage"] and r["reason"] for r in rejects)
    assert manifest["counts"]["input"] == 1000 + len(HANDMADE)
