"""Batch mode for LLM stages (docs/batch.md): a phase on the driver before the stage runs.

collect the stage's requests (not those in the response cache) -> request files -> upload and create
batches (recorded in the ledger first) -> wait -> results into the response cache -> the stage then
answers every row from the cache, as if it had been answered synchronously.
"""
