"""LLM client side: endpoint settings, client, rate limits, cache, prompts."""
