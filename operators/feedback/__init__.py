"""Feedback and comparison data for reward models: candidates, judge scores, pairwise verdicts."""
