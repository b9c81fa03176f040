"""Operators: pure transformations over pyarrow batches, testable without Ray."""
