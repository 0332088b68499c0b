"""Placeholder: classical restorers being written."""
