from operators.dedup.components import Edge, node_key, order_part, pinned_node, resolve


def test_keeper_is_smallest_node_and_reasons():
    edges = [Edge("1b", "1a", 0.8, False), Edge("1c", "1b", 0.9, False), Edge("1d", "1a", 1.0, True)]
    removals = {r.node: r for r in resolve(edges)}
    assert set(removals) == {"1b", "1c", "1d"}
    assert removals["1c"].keeper == "1a" and removals["1c"].via == "1b"
    assert removals["1d"].reason == "exact_duplicate"
    assert removals["1b"].reason == "near_duplicate" and removals["1b"].similarity == 0.8


def test_rows_of_earlier_releases_are_never_removed_and_win():
    old = pinned_node("x", 0)
    removals = resolve([Edge("1a", old, 0.9, False)])
    assert [(r.node, r.keeper) for r in removals] == [("1a", old)]


def test_order_is_numeric_by_line_then_path():
    assert order_part("f.jsonl:9", "x") < order_part("f.jsonl:10", "x")
    assert node_key("a:1", "i", "longest_output", "long output") < node_key("a:0", "i", "longest_output", "s")
