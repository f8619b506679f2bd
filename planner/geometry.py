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
* Blur of phase retrieval: the filter 1 / (1 + L² f²) (f in cycles per length) has the
  line-spread function (π/L) exp(-2π|x|/L) (the 1D Fourier pair of a Lorentzian), whose FWHM
  is (ln 2 / π) L ≈ 0.22 L (:func:`paganin_blur_fwhm_m`); it adds in quadrature to the others.
"""

from __future__ import annotations

import math

import scipy.constants as sc

__all__ = ["xray_magnification", "effective_distance_m", "voxel_size_m", "optic_magnification_for",
           "field_of_view_m", "recommended_projections", "stages_for_height", "wavelength_m",
           "helical_coverage",
           "fresnel_number", "paganin_length_m", "paganin_blur_fwhm_m", "penumbral_blur_m",
           "QUARTER_SHIFT"]

QUARTER_SHIFT = 0.45


def xray_magnification(z1_m: float, z2_m: float) -> float:
    """M = (z1 + z2) / z1."""
    return (z1_m + z2_m) / z1_m


def effective_distance_m(z1_m: float, z2_m: float) -> float:
    """z_eff = z1 z2 / (z1 + z2)."""
    return z1_m * z2_m / (z1_m + z2_m)


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


def wavelength_m(energy_kev: float) -> float:
    """λ = h c / E."""
    return sc.h * sc.c / (energy_kev * 1e3 * sc.e)


def fresnel_number(voxel_m: float, energy_kev: float, z_eff_m: float) -> float:
    """N_F = a² / (λ z_eff)."""
    return voxel_m ** 2 / (wavelength_m(energy_kev) * z_eff_m)


def paganin_length_m(energy_kev: float, z_eff_m: float, delta_over_beta: float) -> float:
    """L = sqrt(π λ z_eff δ/β) (PyHST2 PAGANIN_Lmicron)."""
    return math.sqrt(math.pi * wavelength_m(energy_kev) * z_eff_m * delta_over_beta)


def paganin_blur_fwhm_m(paganin_length_m):
    """FWHM of the Paganin filter's line-spread function, (ln 2 / π) L (module docstring)."""
    return math.log(2.0) / math.pi * paganin_length_m


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
