"""Forward simulation of a HiP-CT scan: phantom → spectral projection → Fresnel propagation →
detector (blur, pixel integration, Poisson and read noise) → raw NXtomo frames."""
