import numpy as np

from operators.llm import keyset
from operators.llm.cache import ResponseCache
from operators.llm.keyset import KeyIndex, KeySet


def test_set_and_index_across_merges():
    keys = [f"key-{i}" for i in range(10_000)]  # several merges of the buffer into the sorted array
    found = KeySet(keys[::2])
    assert len(found) == 5_000 and all(k in found for k in keys[::2]) and not any(k in found for k in keys[1::2])
    assert not found.add(keys[0]) and len(found) == 5_000
    index = KeyIndex()
    for i, key in enumerate(keys):
        assert index.add(key, i % 7)
    assert not index.add(keys[3], 99)  # the first value stays
    assert [index.get(k) for k in keys] == [i % 7 for i in range(len(keys))] and index.get("other") is None
    assert index._sorted.nbytes + index._values.nbytes < 25 * len(keys)


def test_digests_ending_in_nul_bytes_are_found(monkeypatch):
    table = {"a": b"\x01" * 15 + b"\x00", "b": b"\x01" * 14 + b"\x00\x00", "c": b"\x01" * 16}
    monkeypatch.setattr(keyset, "digest", table.__getitem__)
    monkeypatch.setattr(keyset, "_MIN_BUFFER", 1)  # every add merges
    index = KeyIndex()
    for value, key in enumerate(table):
        assert index.add(key, value)
    assert [index.get(k) for k in table] == [0, 1, 2] and isinstance(index._sorted, np.ndarray)


def test_a_digest_collision_never_returns_another_keys_answer(tmp_path, monkeypatch):
    monkeypatch.setattr(keyset, "digest", lambda key: b"\x07" * 16)  # every key collides
    cache = ResponseCache(str(tmp_path / "cache"))
    cache.put("k1", {"content": "one"})
    cache.flush()
    cache.put("k2", {"content": "two"})
    cache.flush()
    assert cache.get("k1")["content"] == "one" and cache.get("k2") is None  # a miss, never k1's answer
    reader = ResponseCache(str(tmp_path / "cache"))
    reader.refresh()
    answers = [(reader.get(k) or {}).get("content") for k in ("k1", "k2", "k3")]
    assert answers in (["one", None, None], [None, "two", None])
