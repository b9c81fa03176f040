"""Translation support: protected spans (code, URLs, numbers, placeholders), reply parsing, QA checks."""
