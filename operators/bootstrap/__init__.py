"""Instruction bootstrapping from seed tasks: Self-Instruct, Alpaca, Unnatural Instructions."""
