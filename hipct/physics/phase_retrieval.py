"""The phase-retrieval hand-off from a plan to the reconstruction.

:class:`PhaseRetrieval` is the hand-off from a plan to ``hipct reconstruct --plan``: the one set
of values from which both the planner's reported Paganin length and the filter the
reconstruction applies are computed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .propagation import paganin_length_m, wavelength_m

__all__ = ["PhaseRetrieval"]


@dataclass(frozen=True)
class PhaseRetrieval:
    """Single-distance Paganin phase retrieval parameters (SI units in the names).

    Attributes
    ----------
    energy_kev : float
        Energy of the retrieval: the planner uses the mean detected energy of the spectrum
        *behind the sample* (deposited-energy weighted), the spectrum that forms the image.
    z_eff_m : float
        Effective propagation distance z1 z2 / (z1 + z2).
    pixel_size_m : float
        Voxel (sample-plane pixel) size.
    delta_beta : float
        δ/β of the retrieval (β from the total attenuation).
    energy_basis : str
        Which energy ``energy_kev`` is, in words (recorded in the provenance).
    """

    energy_kev: float
    z_eff_m: float
    pixel_size_m: float
    delta_beta: float
    energy_basis: str = "mean detected energy behind the sample"

    @property
    def wavelength_m(self) -> float:
        """λ = h c / E."""
        return wavelength_m(self.energy_kev)

    @property
    def paganin_length_m(self) -> float:
        """L = sqrt(π λ z_eff δ/β) (PyHST2's PAGANIN_Lmicron; filter 1 / (1 + L² |f|²))."""
        return paganin_length_m(self.energy_kev, self.z_eff_m, self.delta_beta)

    def to_dict(self) -> dict:
        """Plain mapping for JSON reports and provenance."""
        out = asdict(self)
        out["paganin_length_um"] = self.paganin_length_m * 1e6
        return out
