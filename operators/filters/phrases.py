"""Default phrase lists for the response filter (matched lower-cased; "，" is read as ",")."""
from __future__ import annotations

REFUSALS = (
    # English refusals and AI disclaimers
    "as an ai language model", "as an ai model", "as an ai assistant", "as an ai,", "as an ai i ",
    "as a language model", "as a large language model", "as an artificial intelligence",
    "i'm just an ai", "i am just an ai", "i'm an ai", "i am an ai",
    "i'm sorry, but i cannot", "i'm sorry, but i can't", "i am sorry, but i cannot",
    "i'm sorry, i cannot", "i'm sorry, i can't", "i apologize, but i cannot", "i apologize, but i can't",
    "i cannot fulfill", "i can't fulfill", "i cannot comply", "i can't comply",
    "i cannot provide an answer", "i'm not able to provide", "i am not able to provide",
    "i don't have personal opinions", "i do not have personal opinions", "i don't have personal",
    "i do not have personal", "i don't have the ability to", "i do not have the ability to",
    "i don't have access to real-time", "i do not have access to real-time", "i cannot browse",
    "my knowledge cutoff", "my training data",
    # Chinese
    "作为一个ai语言模型", "作为ai语言模型", "作为一个人工智能语言模型", "作为人工智能语言模型",
    "作为一个ai", "作为一名ai", "作为ai助手", "作为一个人工智能", "作为人工智能", "作为一个语言模型",
    "作为语言模型", "我是一个ai", "我只是一个ai", "我是一个人工智能", "我只是一个人工智能", "我是一个语言模型",
    "很抱歉,我无法", "抱歉,我无法", "对不起,我无法", "很抱歉,我不能", "抱歉,我不能", "对不起,我不能",
    "我无法提供", "我不能提供", "我没有个人观点", "我没有个人意见", "我没有个人喜好", "我没有个人情感",
    "我无法访问", "我无法浏览", "我没有实时",
)

TEMPLATE_TOKENS = (
    "<noinput>", "<no input>", "<nooutput>", "<no output>", "### instruction:", "### input:",
    "### response:", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "[inst]", "[/inst]",
)

TEMPLATE_PREFIXES = ("input:", "instruction:", "输入：", "输入:", "指令：", "指令:")
