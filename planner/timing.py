"""Scan time.

Per tomogram (the HOA ``scan_time``; matches BM18 IRIS15 records to 0.5 %):

    t_scan = N_proj · n_sub · (t_sub + t_lat)

Per stage it adds flats (``ref_groups`` groups of ``n_ref`` frames, before and after),
darks and a motion overhead (sample out/in, vertical move, rotation ramps); quarter
acquisition scans each stage twice.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ScanTime", "scan_time"]


@dataclass(frozen=True)
class ScanTime:
    """Times in seconds."""

    per_tomogram_s: float
    references_s: float
    overhead_s: float
    per_stage_s: float
    total_s: float
    beam_on_per_tomogram_s: float


def scan_time(n_proj: int, n_sub: int, t_sub_s: float, t_lat_s: float, *, n_ref: int,
              ref_groups: int, n_dark: int, overhead_s: float, scans_per_stage: int,
              stages: int) -> ScanTime:
    """Time of a whole acquisition (see module docstring)."""
    frame = n_sub * (t_sub_s + t_lat_s)
    tomo = n_proj * frame
    refs = (n_ref * ref_groups + n_dark) * frame
    per_scan = tomo + refs + overhead_s
    per_stage = per_scan * scans_per_stage
    return ScanTime(tomo, refs, overhead_s, per_stage, per_stage * stages, tomo)
