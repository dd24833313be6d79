"""Switchyard: describe an ML inference workload once, run it where it belongs."""

__version__ = "0.1.0"
