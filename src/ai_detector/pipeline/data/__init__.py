"""Data sources: each turns a dataset layout into the same labelled :class:`Record` list."""

from ai_detector.pipeline.data.records import Record, read_records, write_records

__all__ = ["Record", "read_records", "write_records"]
