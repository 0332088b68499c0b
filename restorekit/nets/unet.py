"""Placeholder: architecture being written."""
