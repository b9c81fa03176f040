from operators.filters.script import count_han, to_simplified, traditional_count, traditional_ratio


def test_traditional_detection_and_conversion():
    trad = "這個月，我會讀一本書，以增加我在某個領域的知識。"
    simp = "这个月，我会读一本书，以增加我在某个领域的知识。"
    assert traditional_count(trad) >= 5 and traditional_ratio(trad) > 0.2
    assert traditional_ratio(simp) == 0.0 and traditional_ratio("plain English") == 0.0
    assert to_simplified(trad) == simp
    assert to_simplified("English only") == "English only"


def test_characters_valid_in_simplified_do_not_count():
    assert traditional_count("乾隆皇帝于是覆盖了显著的著作") == 0  # 乾 覆 著 are also Simplified


def test_count_han():
    assert count_han("abc中文def汉字") == 4 and count_han("") == 0
