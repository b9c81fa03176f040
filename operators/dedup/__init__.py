"""Exact and MinHash-LSH near-duplicate removal (global stage `dedup`), its index and query pool."""
