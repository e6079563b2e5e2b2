"""Explanations of video models (see attribution.py)."""
