"""Reconstruction of raw projections into registration-ready volumes (issue #3; not built yet)."""
