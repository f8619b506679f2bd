"""Excised block against intact organ: simulate both scans of a plan pair, reconstruct them with
the same pipeline, and compare contrast, resolution, dynamic range, dose and time in figures."""
