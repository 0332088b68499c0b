"""Evaluation: tables of metrics, comparison figures, sweeps and downstream tasks."""
