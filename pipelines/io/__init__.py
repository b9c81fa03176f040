"""Edges of the pipeline that touch storage: readers, the sink, filesystems."""
