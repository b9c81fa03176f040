"""Exact and MinHash-LSH near-duplicate removal (global stage `dedup`), its index and query pool."""
from operators.dedup.minhash import MinHasher
from operators.dedup.text import normalize_batch, normalize_for_dedup, shingle_hash32

__all__ = ["MinHasher", "normalize_batch", "normalize_for_dedup", "shingle_hash32"]
