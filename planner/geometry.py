"""Scan geometry: magnification, voxel size, field of view, sampling, stages, propagation.

Conventions:

* X-ray magnification M = (z1 + z2) / z1 (quasi-parallel beam from a distant source).
* voxel = camera pixel × binning / (optic magnification × M).
* field of view across the axis, with W the detector width at the sample:
  full = W; half acquisition (axis near one edge, 360°) = 2 (W - overlap);
  quarter acquisition (two half scans, the second shifted by ``shift`` = 0.45 W) =
  2 (W - overlap + shift) ≈ 2.9 W.
* projections: N ≥ (π/2) · (pixels across the reconstructed width), as practised at ESRF.
* effective propagation distance z_eff = z1 z2 / (z1 + z2); Fresnel number N_F = a² / (λ z_eff)
  with a the voxel size (Fresnel scaling theorem, Paganin 2006 §2.4).
* Paganin length L = sqrt(π λ z_eff δ/β)  (PyHST2's PAGANIN_Lmicron, L² = π λ D δ/β).
* The Paganin filter 1 / (1 + L² f²) (f in cycles per length) alone has the line-spread
  function (π/L) exp(-2π|x|/L) (the 1D Fourier pair of a Lorentzian), FWHM (ln 2 / π) L
  (:func:`paganin_blur_fwhm_m`). It is not the blur of the retrieved image: propagation first
  multiplies the object's spectrum by cos χ + (δ/β) sin χ, χ = π λ z_eff f² (weak-object
  contrast transfer, e.g. Cloetens et al. 1999, Appl. Phys. Lett. 75, 2912), which the filter
  undoes where the TIE holds (χ ≪ 1). The retrieval's resolution
  (:func:`phase_retrieval_resolution_m`) is the half-period 1 / (2 f₁₀) at which the product
  T(f) = (cos χ + r sin χ) / (1 + r_u χ) first falls to 10 % of its zero-frequency value, r the
  Δδ/Δβ of the edges imaged and r_u the δ/β of the filter: ≈ 0.53 sqrt(λ z_eff) when they
  match (the Fresnel zone, not L). A filter stronger than the edges (r_u > r) keeps only r/r_u
  of their contrast above f ≈ 1/L (a halo of width ~L at reduced contrast, what an unsharp mask
  restores) and costs resolution only when r/r_u < 10 %. It adds in quadrature to the others.
"""

from __future__ import annotations

import math

import numpy as np

from hipct.physics.propagation import effective_distance_m, fresnel_number, paganin_length_m, wavelength_m

__all__ = ["xray_magnification", "effective_distance_m", "voxel_size_m", "optic_magnification_for",
           "field_of_view_m", "recommended_projections", "stages_for_height", "wavelength_m",
           "helical_coverage",
           "fresnel_number", "paganin_length_m", "paganin_blur_fwhm_m",
           "phase_retrieval_transfer", "phase_retrieval_resolution_m", "penumbral_blur_m",
           "QUARTER_SHIFT"]

QUARTER_SHIFT = 0.45


def xray_magnification(z1_m: float, z2_m: float) -> float:
    """M = (z1 + z2) / z1."""
    return (z1_m + z2_m) / z1_m


def voxel_size_m(pixel_m: float, binning: int, optic_mag: float, xray_mag: float) -> float:
    """voxel = pixel × binning / (optic magnification × X-ray magnification)."""
    return pixel_m * binning / (optic_mag * xray_mag)


def optic_magnification_for(voxel_m: float, pixel_m: float, binning: int, xray_mag: float) -> float:
    """Optic magnification giving ``voxel_m`` (inverse of :func:`voxel_size_m`)."""
    return pixel_m * binning / (voxel_m * xray_mag)


def field_of_view_m(width_px: int, voxel_m: float, geometry: str, overlap_px: float = 0.0,
                    shift_fraction: float = QUARTER_SHIFT) -> float:
    """Reconstructable diameter across the rotation axis for full, half or quarter acquisition."""
    w = width_px * voxel_m
    o = overlap_px * voxel_m
    if geometry == "full":
        return w
    if geometry == "half":
        return 2.0 * (w - o)
    if geometry == "quarter":
        return 2.0 * (w - o + shift_fraction * w)
    raise ValueError(f"geometry must be full, half or quarter, not {geometry!r}")


def recommended_projections(fov_m: float, voxel_m: float) -> int:
    """N = ceil((π/2) · FOV / voxel), rounded up to a multiple of 10."""
    n = math.ceil(math.pi / 2 * fov_m / voxel_m)
    return int(math.ceil(n / 10.0) * 10)


def stages_for_height(sample_height_m: float, fov_height_m: float, step_m: float) -> int:
    """Number of z-series stages covering ``sample_height_m`` with a vertical step."""
    if sample_height_m <= fov_height_m:
        return 1
    return 1 + math.ceil((sample_height_m - fov_height_m) / step_m - 1e-9)


def paganin_blur_fwhm_m(paganin_length_m):
    """FWHM of the Paganin filter's line-spread function, (ln 2 / π) L (module docstring)."""
    return math.log(2.0) / math.pi * paganin_length_m


def phase_retrieval_transfer(chi, delta_beta_used, delta_beta_object):
    """Transfer of propagation then Paganin retrieval, (cos χ + r sin χ) / (1 + r_u χ).

    Weak homogeneous object (contrast transfer function of Fresnel propagation, Cloetens et al.
    1999) retrieved with the filter 1 / (1 + r_u χ); χ = π λ z_eff f², r = ``delta_beta_object``
    (Δδ/Δβ of the edges), r_u = ``delta_beta_used``.
    """
    chi = np.asarray(chi, dtype=float)
    return (np.cos(chi) + delta_beta_object * np.sin(chi)) / (1.0 + delta_beta_used * chi)


# χ grid for the first 10 % crossing: it lies before the transfer's first zero, χ < π.
_CHI = np.concatenate([[0.0], np.geomspace(1e-9, math.pi, 1200)])


def phase_retrieval_resolution_m(energy_kev, z_eff_m, delta_beta_used, delta_beta_object=None,
                                 level: float = 0.1):
    """Resolution of single-distance Paganin retrieval: 1 / (2 f) where the transfer first falls
    to ``level`` (module docstring; weak-object contrast transfer).

    Parameters
    ----------
    energy_kev, z_eff_m : float or array_like
        Energy (keV) and effective propagation distance (m).
    delta_beta_used : float or array_like
        δ/β of the Paganin filter.
    delta_beta_object : float or array_like, optional
        Δδ/Δβ of the edges imaged (tissue against its medium); default: matched to the filter.

    Returns
    -------
    float or ndarray
        Half-period (m); 0 where z_eff is 0 (no propagation, nothing to retrieve).
    """
    lam_z = np.asarray(wavelength_m(np.asarray(energy_kev, dtype=float)) * np.asarray(z_eff_m),
                       dtype=float)
    r_u = np.asarray(delta_beta_used, dtype=float)
    r = r_u if delta_beta_object is None else np.abs(np.asarray(delta_beta_object, dtype=float))
    lam_z, r_u, r = np.broadcast_arrays(lam_z, r_u, r)
    t = phase_retrieval_transfer(_CHI, r_u.reshape(-1, 1), r.reshape(-1, 1)) - level
    first = np.argmax(t <= 0.0, axis=1)   # t(π) < 0 always: the zero lies before π
    lo, hi = _CHI[first - 1], _CHI[first]
    rows = np.arange(first.size)
    t_lo, t_hi = t[rows, first - 1], t[rows, first]
    chi = np.where(first > 0, lo + (hi - lo) * t_lo / (t_lo - t_hi), np.nan)  # NaN in: NaN out
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.sqrt(chi / (math.pi * lam_z.ravel()))
        out = np.where(lam_z.ravel() > 0, 0.5 / f, np.where(np.isnan(lam_z.ravel()), np.nan, 0.0))
    out = out.reshape(lam_z.shape)
    return float(out) if out.ndim == 0 else out


def penumbral_blur_m(source_size_m: float, z1_m: float, z2_m: float) -> float:
    """Source blur referred to the sample plane: s · z2 / z1 / M = s · z2 / (z1 + z2)."""
    return source_size_m * z2_m / (z1_m + z2_m)


def helical_coverage(turns: float, pitch_m: float, beam_height_m: float,
                     turns_needed: float) -> tuple[float, float]:
    """Height fully sampled by a helical scan, and turns each voxel spends in the beam.

    A voxel is in the beam while the stage travels one beam height, i.e. for
    ``beam_height / pitch`` turns; it needs ``turns_needed`` of them (0.5 for a 180°
    reconstruction, 1 for half/quarter acquisition). Of the ``turns · pitch`` travelled,
    the first and last ``turns_needed · pitch`` less half a beam height see too little:
    covered height ``= (turns − 2·turns_needed)·pitch + beam_height`` (0 if negative).
    """
    in_beam = beam_height_m / pitch_m
    covered = max(0.0, (turns - 2.0 * turns_needed) * pitch_m + beam_height_m)
    return covered, in_beam
