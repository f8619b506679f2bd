"""Reconstruction of raw projections into registration-ready volumes.

Raw scan (NXtomo, APS Data Exchange, TIFF) → dark/flat-field correction → Paganin phase
retrieval → unsharp mask → ring removal → filtered back-projection of 180°, 360°, half- and
quarter-acquisition scans (automatic centre of rotation) → z-series stitching → OME-Zarr, TIFF
or HDF5 volume (:mod:`.pipeline`), in a memory budget (:mod:`.memory`), optionally on a dask
cluster. The same steps on arrays: :class:`.reconstructor.Reconstructor`.
"""
