"""Spectral projection, Fresnel propagation and detector blur of one projection.

Physics (Paganin 2006, *Coherent X-ray Optics*, §2.2 and §1.3):

* exit wave per energy bin, projection approximation:
  ψ_E = exp(−k Σ_m β_m(E) L_m − i k Σ_m δ_m(E) L_m), k = 2π/λ, L_m the path in material m;
* free-space propagation over the effective distance z_eff = z1 z2 / (z1 + z2) (Fresnel
  scaling theorem for a point source far away) with the transfer function
  H(f) = exp(−i π λ z_eff |f|²), on a grid padded by the physical object itself (the
  chords are computed beyond the detector window), so no edge is invented;
* energy-integrating detection: I = Σ_E w_E |ψ_E ∗ h_z|², ``w_E`` the open-beam detected
  signal fraction of each bin (photons × energy deposited in the screen);
* blur: a Gaussian of the combined FWHM (scintillator/optics, source penumbra, optional
  extra), applied by :meth:`Propagator.blur` after the X-ray quanta are drawn (the light
  spread blurs their noise too), then integration over each detector pixel.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from hipct.physics.materials import delta_beta
from hipct.physics.propagation import wavelength_m  # λ = h c / E, element-wise on arrays

__all__ = ["energy_bins", "material_optics", "wavelength_m", "Propagator", "FWHM_TO_SIGMA"]

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def energy_bins(energy_kev: np.ndarray, weight: np.ndarray, n_bins: int):
    """Split a detected-signal spectrum into ``n_bins`` bins of equal weight.

    Returns ``(energies, weights)``: each bin's weight-averaged energy (keV) and its share of
    the signal (summing to 1). Empty grid points are dropped; a monochromatic beam gives one
    bin.
    """
    e = np.asarray(energy_kev, dtype=float)
    w = np.clip(np.asarray(weight, dtype=float), 0.0, None)
    keep = w > 0
    e, w = e[keep], w[keep]
    if e.size == 0:
        raise ValueError("spectrum: no detected signal to simulate")
    if e.size <= n_bins:
        return e, w / w.sum()
    cdf = np.cumsum(w) / w.sum()
    edges = np.searchsorted(cdf, np.linspace(0, 1, n_bins + 1)[1:-1])
    groups = np.split(np.arange(e.size), np.unique(edges))
    groups = [g for g in groups if g.size]
    ew = np.array([np.sum(e[g] * w[g]) / np.sum(w[g]) for g in groups])
    ww = np.array([np.sum(w[g]) for g in groups])
    return ew, ww / ww.sum()


def material_optics(materials: dict, energy_kev: np.ndarray):
    """δ and β of every material at the bin energies: dicts key → array over energy."""
    d, b = {}, {}
    for key, mat in materials.items():
        d[key], b[key] = delta_beta(mat, energy_kev)
    return d, b


class Propagator:
    """Path lengths → detected intensity on a padded, oversampled grid.

    Parameters
    ----------
    energy_kev, weights : numpy.ndarray
        Bin energies and signal shares (:func:`energy_bins`).
    d_delta, d_beta : numpy.ndarray
        ``(n_bins, n_groups)`` refractive-index steps of each group of features.
    z_eff_m : float
        Effective propagation distance (0: contact image).
    pixel_m : float
        Sampling of the grid (the detector pixel over the oversampling).
    shape : tuple
        Padded grid ``(rows, cols)``.
    blur_sigma_m : float
        Gaussian blur of the detected intensity (σ, sample plane).
    """

    def __init__(self, energy_kev, weights, d_delta, d_beta, z_eff_m, pixel_m, shape,
                 blur_sigma_m):
        energy_kev = np.asarray(energy_kev, dtype=float)
        self.k = 2 * np.pi / wavelength_m(energy_kev)
        self.w = np.asarray(weights, dtype=float)
        self.d_delta = np.asarray(d_delta, dtype=float)
        self.d_beta = np.asarray(d_beta, dtype=float)
        self.shape = tuple(shape)
        fy = sfft.fftfreq(shape[0], d=pixel_m)[:, None]
        fx = sfft.fftfreq(shape[1], d=pixel_m)[None, :]
        f2 = fx * fx + fy * fy
        lam = wavelength_m(energy_kev)
        self.h = None if z_eff_m <= 0 else np.exp(
            -1j * np.pi * lam[:, None, None] * z_eff_m * f2[None]).astype(np.complex64)
        self.pixel_m = pixel_m
        self.sigma_m = blur_sigma_m
        self._mtf = {}

    def intensity(self, paths: np.ndarray) -> np.ndarray:
        """Intensity at the detector (open beam = 1, before blur) from group path lengths
        ``(n_groups, rows, cols)``, summed over the bins with their signal weights."""
        delta_path = np.tensordot(self.d_delta, paths, axes=(1, 0))   # (n_bins, rows, cols)
        beta_path = np.tensordot(self.d_beta, paths, axes=(1, 0))
        phase = -self.k[:, None, None] * delta_path
        # a constant phase is unobservable; removing it keeps float32 precision
        phase -= phase.mean(axis=(1, 2), keepdims=True)
        psi = np.exp(-self.k[:, None, None] * beta_path + 1j * phase).astype(np.complex64)
        if self.h is not None:
            psi = sfft.ifft2(sfft.fft2(psi, axes=(1, 2)) * self.h, axes=(1, 2))
        return np.tensordot(self.w, psi.real ** 2 + psi.imag ** 2, axes=(0, 0))

    def blur(self, image: np.ndarray) -> np.ndarray:
        """Gaussian blur (the scintillator's light spread), periodic on the grid; keeps the sum."""
        if self.sigma_m <= 0:
            return image
        mtf = self._mtf.get(image.shape)
        if mtf is None:
            fy = sfft.fftfreq(image.shape[0], d=self.pixel_m)[:, None]
            fx = sfft.rfftfreq(image.shape[1], d=self.pixel_m)[None, :]
            mtf = self._mtf[image.shape] = np.exp(
                -2 * np.pi ** 2 * self.sigma_m ** 2 * (fx * fx + fy * fy))
        return sfft.irfft2(sfft.rfft2(image) * mtf, s=image.shape)
