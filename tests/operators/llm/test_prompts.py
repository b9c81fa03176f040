from operators.llm.prompts import ALPACA_NO_INPUT, ALPACA_WITH_INPUT, build_messages, estimate_tokens


def test_alpaca_templates_as_chat_messages():
    plain = build_messages("Give three tips.", "")
    assert plain == [{"role": "user", "content": ALPACA_NO_INPUT.format(instruction="Give three tips.")}]
    with_input = build_messages("Translate.", "Bonjour", system_prompt="You are helpful.")
    assert with_input[0] == {"role": "system", "content": "You are helpful."}
    assert with_input[1]["content"].endswith("### Instruction:\nTranslate.\n\n### Input:\nBonjour\n\n### Response:")
    assert with_input[1]["content"] == ALPACA_WITH_INPUT.format(instruction="Translate.", input="Bonjour")
    assert build_messages("Hi", "there", template="plain")[0]["content"] == "Hi\n\nthere"


def test_token_estimate_is_low_but_grows_with_text():
    short = estimate_tokens([{"role": "user", "content": "word " * 100}])
    assert 100 <= short <= 130  # 500 ASCII characters: a real tokenizer gives about 100-125
    assert estimate_tokens([{"role": "user", "content": "字" * 100}]) >= 100


def test_chinese_alpaca_templates():
    from operators.llm.prompts import render_prompt
    with_input = render_prompt("翻译这句话", "hello", "alpaca_zh")
    assert "### 指令:\n翻译这句话" in with_input and "### 输入:\nhello" in with_input
    assert with_input.endswith("### 回答:")
    assert "### 输入" not in render_prompt("写一首诗", "", "alpaca_zh")
