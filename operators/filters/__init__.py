"""Quality filters and language identification (language_filter, length_filter,
instruction_filter, response_filter). Each computes score columns, then decides with a reason."""
