"""Physics shared by every stage: materials (xraylib and NIST tables), layers of matter crossed by
the beam (filters, rods, containers, the sample), free-space propagation (wavelength, z_eff,
Paganin length) and the phase-retrieval hand-off from a plan to the reconstruction."""

from .phase_retrieval import PhaseRetrieval
from .planned_scan import PlannedScan
from .propagation import effective_distance_m, fresnel_number, paganin_length_m, wavelength_m

__all__ = ["PhaseRetrieval", "PlannedScan", "wavelength_m", "effective_distance_m", "fresnel_number",
           "paganin_length_m"]
