"""What a plan hands to the stages after it: the simulator, the reconstruction and the study.

:class:`PlannedScan` is built by the planner (:meth:`hipct.planner.evaluate.PlanResult.planned_scan`)
and read by attribute, so every stage names the same quantity the same way: energies are named
for where they are measured (the open beam, behind the sample), lengths and times are SI.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .phase_retrieval import PhaseRetrieval

__all__ = ["PlannedScan"]


@dataclass(frozen=True)
class PlannedScan:
    """The typed hand-off of an evaluated plan (SI units in the names).

    Attributes
    ----------
    name : str
        The plan's name.
    voxel_size_m : float
        Sample-plane voxel size.
    open_beam_mean_energy_kev : float or None
        Mean detected energy of the open beam (the flat field), deposited-energy weighted;
        ``None`` without a detector.
    behind_sample_mean_energy_kev : float or None
        Mean detected energy of the beam behind the sample (the spectrum that forms the image).
    effective_propagation_distance_m : float or None
        z1 z2 / (z1 + z2); ``None`` for a plan without a propagation distance.
    projections : int
        Projections per tomogram.
    stages : int
        Tomograms stacked in z (a z-series has more than one).
    scans_per_stage : int
        Rotations per stage (2 in quarter acquisition).
    vertical_step_m : float or None
        Stage step between z-series stages.
    dose_gy : float
        Dose to the sample.
    flat_fill_fraction, sample_fill_fraction : float or None
        Mean detector fill of the flat field and behind the sample (fraction of full well).
    phase_retrieval : PhaseRetrieval or None
        The Paganin parameters the reconstruction applies.
    report : dict
        The plan's JSON report (``hipct plan --json``), kept in provenance records only.
    """

    name: str
    voxel_size_m: float
    open_beam_mean_energy_kev: float | None
    behind_sample_mean_energy_kev: float | None
    effective_propagation_distance_m: float | None
    projections: int
    stages: int
    scans_per_stage: int
    vertical_step_m: float | None
    dose_gy: float
    flat_fill_fraction: float | None = None
    sample_fill_fraction: float | None = None
    phase_retrieval: PhaseRetrieval | None = None
    report: dict = field(default_factory=dict, repr=False, compare=False)
