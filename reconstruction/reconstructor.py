"""Array-in/array-out reconstruction of one geometry: the steps every run shares.

A :class:`Reconstructor` is built from the parameters (a
:class:`~hipct.reconstruction.pipeline.ReconParams` whose physics fields hold the values to
use) and a :class:`Geometry` (angles, detector width, axis column(s), binning, slice size), and
is called on arrays::

    rec = Reconstructor(params, Geometry.from_detector([theta], n_cols=2048, cor=[1023.5]))
    slices = rec(projections, flats, darks)          # raw counts -> (rows, ny, nx) in 1/cm
    slices = rec.from_transmission([t])              # flat-corrected I/I0 -> slices
    slices = rec.slices([sinogram_stack])            # -log sinograms -> slices

The file pipeline (:func:`~hipct.reconstruction.pipeline.reconstruct`), the dask tasks
(:mod:`~hipct.reconstruction.cluster`) and the excision study run the same object through
:class:`ScanSlabs`, which reads a scan's rows slab by slab (with the rows the convolution steps
need from the neighbours), so an array run and a file run give the same bits.

Lifetimes: the planned back-projector is owned by the :class:`Reconstructor`, the open scans,
their dark/flat references and the Paganin filter's plan by the :class:`ScanSlabs`; both drop
them in ``close()`` (also on leaving a ``with`` block) and neither pickles them (a dask worker
builds its own once per run and drops it with the run's scattered job). Nothing is cached at
module level.
"""

from __future__ import annotations

import threading
import uuid
import warnings
from dataclasses import dataclass, replace

import numpy as np

from hipct.errors import HipctError, HipctWarning

from . import acquisition as acq
from .fbp import backprojector
from .flatfield import FlatGroups, group_flats, normalise, synthetic_flat
from .io.readers import Scan, open_scan
from .phase import PaganinFilter, unsharp_margin, unsharp_mask
from .rings import remove_stripes

__all__ = ["Geometry", "Reconstructor", "Preprocessor", "ScanSlabs", "memory_scan",
           "bin_frames", "BATCH"]

#: Projections per preprocessing batch (one task of a distributed run).
BATCH = 64


def bin_frames(data: np.ndarray, b: int) -> np.ndarray:
    """Mean of ``b × b`` pixel blocks of each frame of ``(n, rows, cols)`` (edges cropped)."""
    if b == 1:
        return data
    n, r, c = data.shape
    r2, c2 = r // b, c // b
    return data[:, :r2 * b, :c2 * b].reshape(n, r2, b, c2, b).mean(axis=(2, 4))


@dataclass(frozen=True)
class Geometry:
    """The acquisition geometry of one reconstruction, in binned detector pixels.

    Parameters
    ----------
    theta : tuple of numpy.ndarray
        Projection angles (radians) of each input: one for a 180°, 360° or half-acquisition
        scan, two for the rotations of a quarter acquisition.
    n_cols_binned : int
        Detector columns after binning.
    cor_binned : tuple of float
        Axis column of each input, 0-based, in binned columns.
    binning : int
        Detector binning (``b × b`` pixels per binned pixel).
    width : int, optional
        Slice size (binned pixels); default: the diameter every line of which was measured.
    roi : tuple, optional
        ``(x0, x1, y0, y1)`` region of the ``width × width`` slice.
    """

    theta: tuple
    n_cols_binned: int
    cor_binned: tuple
    binning: int = 1
    width: int | None = None
    roi: tuple | None = None

    @classmethod
    def from_detector(cls, theta, n_cols: int, cor, binning: int = 1, width: int | None = None,
                      roi=None) -> "Geometry":
        """The geometry from unbinned detector columns and ``--cor`` values (absolute, 0-based,
        unbinned): a binned column ``c_b`` covers ``(c_b + 0.5) b - 0.5``."""
        if binning < 1:
            raise HipctError(f"--bin: must be an integer >= 1, got {binning}")
        return cls(tuple(np.asarray(t, dtype=np.float64) for t in theta), int(n_cols) // binning,
                   tuple((float(c) + 0.5) / binning - 0.5 for c in cor), int(binning), width,
                   None if roi is None else tuple(roi))

    @property
    def cor(self) -> list:
        """Axis columns in unbinned detector columns (the ``--cor`` convention)."""
        return [(c + 0.5) * self.binning - 0.5 for c in self.cor_binned]

    def subscans(self) -> list:
        """The inputs as :class:`~.acquisition.SubScan` of the merge to 180°."""
        return [acq.SubScan(t, self.n_cols_binned, c) for t, c in zip(self.theta, self.cor_binned)]

    @property
    def slice_width(self) -> int:
        """The ``n`` of the ``n × n`` slice grid."""
        return self.width or int(round(2 * acq.covered_radius(self.subscans()))) + 1

    @property
    def shape_yx(self) -> tuple:
        """``(ny, nx)`` of the reconstructed slices (the ROI when given)."""
        n = self.slice_width
        if self.roi is None:
            return n, n
        x0, x1, y0, y1 = self.roi
        if not (0 <= x0 < x1 <= n and 0 <= y0 < y1 <= n):
            raise HipctError(f"--roi: {x0}:{x1},{y0}:{y1} is outside the {n}×{n} slice")
        return y1 - y0, x1 - x0

    @property
    def n_angles(self) -> int:
        """Projections of all inputs together."""
        return int(sum(np.asarray(t).size for t in self.theta))


class Reconstructor:
    """FBP reconstruction of one geometry, planned once and applied to many arrays.

    Parameters
    ----------
    params : ReconParams
        The reconstruction parameters; its ``energy_kev``, ``distance_m`` (effective),
        ``pixel_size_m`` (unbinned, at the sample) and ``delta_beta`` are the values used
        (``delta_beta`` 0 or ``None``: absorption, no phase retrieval; ``pixel_size_m``
        ``None``: slices in units per pixel instead of 1/cm). ``filter_name``,
        ``unsharp_sigma_px``, ``unsharp_coeff``, ``ring_size``, ``fbp_method`` and
        ``fbp_threads`` are read too. The object keeps its own copy: later changes to
        ``params`` do not reach it, and it never changes them.
    geometry : Geometry
        Angles, binned width, axis column(s), slice size and ROI.
    """

    def __init__(self, params, geometry: Geometry):
        self.params = replace(params)
        self.geometry = geometry
        p = self.params
        self.paganin = None
        if p.delta_beta:
            missing = [k for k in ("energy_kev", "distance_m", "pixel_size_m")
                       if getattr(p, k) is None]
            if missing:
                raise HipctError(
                    "paganin: " + ", ".join(missing) + " unknown (not in the file); give "
                    "--plan or --energy/--distance/--pixel-size, or --no-phase")
            self.paganin = PaganinFilter(p.energy_kev, p.distance_m,
                                         p.pixel_size_m * geometry.binning, p.delta_beta)
        #: rows each side a vertical chunk needs from its neighbours (Paganin + unsharp)
        self.margin = (self.paganin.margin if self.paganin else 0) \
            + unsharp_margin(p.unsharp_sigma_px)
        self.per_cm = p.pixel_size_m is not None
        self._subs = geometry.subscans()
        self._bp = None
        self._lock = threading.Lock()

    # -- pickling: the plans stay behind; a worker plans its own ---------------------------
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_bp"], state["_lock"] = None, None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Drop the planned back-projector (it is planned again if the object is reused)."""
        self._bp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the steps, on arrays ---------------------------------------------------------------
    def projections(self, transmission: np.ndarray, pad_rows=None) -> np.ndarray:
        """Flat-corrected ``I/I0`` ``(n, rows, cols)`` (unbinned) → −log projections (binned,
        Paganin or −ln, unsharp mask), float32.

        ``pad_rows``: edge padding above and below for Paganin (default the full margin); a
        chunk that carries real neighbour rows passes the part of the margin it lacks.
        """
        t = bin_frames(transmission, self.geometry.binning)
        if self.paganin is not None:
            data = self.paganin.apply(t, pad_rows=pad_rows)
        else:
            data = -np.log(t)
        del t
        return unsharp_mask(data, self.params.unsharp_sigma_px, self.params.unsharp_coeff)

    def backprojector(self, layout: acq.Merged):
        """The FBP planned for the merged layout (planned once; thread-safe)."""
        key = (float(layout.u0), int(layout.n_u), layout.theta.tobytes())
        with self._lock:
            if self._bp is None or self._bp[0] != key:
                p, g = self.params, self.geometry
                self._bp = (key, backprojector(layout.theta, layout.u0, layout.n_u,
                                               g.slice_width, g.roi, p.filter_name,
                                               method=p.fbp_method, nthreads=p.fbp_threads))
            return self._bp[1]

    def slices(self, sinos) -> np.ndarray:
        """−log sinograms, one ``(rows, n_angles_i, n_cols_binned)`` stack per input → slices
        ``(rows, ny, nx)`` float32: ring removal → merge to 180° → FBP → 1/cm (per pixel when
        the pixel size is unknown)."""
        p = self.params
        if p.ring_size:
            sinos = [remove_stripes(s, p.ring_size) for s in sinos]
        merged, layout = acq.merge_to_180(list(sinos), self._subs)
        del sinos
        sl = self.backprojector(layout)(merged)
        del merged
        if self.per_cm:
            pixel_m = p.pixel_size_m * self.geometry.binning
            sl = sl / np.float32(pixel_m * 100.0)                 # per pixel → 1/cm
        return sl

    def from_transmission(self, transmission) -> np.ndarray:
        """Slices from flat-corrected ``I/I0`` projections, one ``(n_angles_i, rows, cols)``
        array per input (the whole detector height: edges padded)."""
        sinos = [np.ascontiguousarray(self.projections(np.asarray(t, np.float32))
                                      .transpose(1, 0, 2), dtype=np.float32)
                 for t in transmission]
        return self.slices(sinos)

    def __call__(self, projections, flats=None, darks=None, *, flat_angles=None,
                 flat_frames=None, saturation=None, flat_source: str = "file") -> np.ndarray:
        """Slices ``(rows, ny, nx)`` from raw counts.

        Parameters
        ----------
        projections : numpy.ndarray or list of numpy.ndarray
            ``(n_angles_i, rows, cols)`` raw projections per input (one array: one input).
        flats, darks : numpy.ndarray or list, optional
            ``(n, rows, cols)`` flat and dark fields per input (no darks: zero; no flats:
            ``flat_source='scan'`` makes one from the projections).
        flat_angles : numpy.ndarray or list, optional
            Angle (radians) at which each flat was taken (default: all at the first angle).
        flat_frames : numpy.ndarray or list, optional
            Acquisition order of each flat among all frames (default: before the scan).
        saturation : float, optional
            Detector saturation level (counts), for the saturation check.
        """
        single = isinstance(projections, np.ndarray)
        listed = (lambda v: [v] if single else list(v))

        def per_input(v):
            return [None] * len(self.geometry.theta) if v is None else listed(v)
        arrays = listed(projections)
        if len(arrays) != len(self.geometry.theta):
            raise HipctError(f"inputs: {len(arrays)} projection array(s) for a geometry of "
                             f"{len(self.geometry.theta)} input(s)")
        scans = [memory_scan(pr, th, fl, dk, fa, ff, saturation)
                 for pr, th, fl, dk, fa, ff in zip(
                     arrays, self.geometry.theta, per_input(flats), per_input(darks),
                     per_input(flat_angles), per_input(flat_frames))]
        params = replace(self.params, rows=(0, scans[0].n_rows), flat_source=flat_source)
        with ScanSlabs(self, scans, params=params) as job:
            nz = scans[0].n_rows // self.geometry.binning
            return job.slab(0, nz, job.parts(0, nz))


def memory_scan(projections, theta, flats=None, darks=None, flat_angles=None,
                flat_frames=None, saturation=None, path: str = "<memory>") -> Scan:
    """Arrays as a :class:`~.io.readers.Scan` read row by row like a file."""
    proj = np.asarray(projections)
    if proj.ndim != 3:
        raise HipctError(f"projections: expected (angles, rows, cols), got shape {proj.shape}")
    n, n_rows, n_cols = proj.shape
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (n,):
        raise HipctError(f"angles: {theta.size} angle(s) for {n} projection(s)")
    empty = np.zeros((0, n_rows, n_cols), np.float32)
    flats = empty if flats is None else np.asarray(flats)
    darks = empty if darks is None else np.asarray(darks)
    for name, a in (("flats", flats), ("darks", darks)):
        if a.ndim != 3 or a.shape[1:] != (n_rows, n_cols):
            raise HipctError(f"{name}: expected (n, {n_rows}, {n_cols}), got shape {a.shape}")
    n_fl = flats.shape[0]
    flat_angles = (np.full(n_fl, theta[0]) if flat_angles is None
                   else np.asarray(flat_angles, dtype=np.float64))
    flat_frames = np.arange(n_fl) if flat_frames is None else np.asarray(flat_frames)
    sources = {"proj": proj, "flat": flats, "dark": darks}
    return Scan(path=path, layout="memory", n_rows=n_rows, n_cols=n_cols, theta=theta,
                flat_angles=flat_angles, flat_frames=flat_frames, n_darks=darks.shape[0],
                saturation=saturation, _read=lambda kind, rows, fr: sources[kind][fr, rows])


#: the automatic centre reads up to this many binned rows, in blocks of 8 spread over the height
AUTO_COR_ROWS = 64
#: ... and at most this many values in memory (1 GiB of float32)
AUTO_COR_FLOATS = 2 ** 28


class Preprocessor:
    """Raw rows of one scan → −log projections (flat field, binning, Paganin, unsharp).

    Holds the dark and flat references of the rows last read (one slab's), replaced in one
    assignment so threads working on different slabs never see each other's.
    """

    def __init__(self, scan: Scan, rec: Reconstructor, params):
        self.scan, self.rec, self.p = scan, rec, params
        self.b = rec.geometry.binning
        self.margin = rec.margin
        self.batch_size = BATCH
        self._refs = None                  # (rows key, (dark, flat groups))

    def _rows(self, r0: int, r1: int):
        """Raw detector rows read for binned rows ``r0:r1`` and the margins they carry."""
        s, b = self.scan, self.b
        first = self.p.rows[0]
        # binned rows r cover raw rows first + r*b ... first + (r+1)*b - 1; neighbours outside
        # the chosen rows are real data and serve as margin where the detector has them
        lo_b = max(r0 - self.margin, -(first // b))
        hi_b = min(r1 + self.margin, (s.n_rows - first) // b)
        return slice(first + lo_b * b, first + hi_b * b), r0 - lo_b, hi_b - r1

    def _references(self, rows: slice):
        key = (rows.start, rows.stop, self.p.flat_source)
        cached = self._refs
        if cached is not None and cached[0] == key:
            return cached[1]
        s = self.scan
        dark = s.read("dark", rows)
        dark = dark.mean(axis=0) if dark.shape[0] else np.zeros(
            (rows.stop - rows.start, s.n_cols), np.float32)
        if self.p.flat_source == "scan":
            groups = FlatGroups(synthetic_flat(s.read("proj", rows) - dark)[None], np.zeros(1))
        else:
            groups = group_flats(s.read("flat", rows) - dark, s.flat_frames, s.flat_angles,
                                 s.current_flat)
        self._refs = (key, (dark, groups))
        return dark, groups

    def batch(self, r0: int, r1: int, a0: int, a1: int, where: str = "") -> np.ndarray:
        """−log projections ``a0:a1`` for binned rows ``r0:r1`` (relative to the first row)."""
        s = self.scan
        rows, top, bottom = self._rows(r0, r1)
        dark, groups = self._references(rows)
        frames = slice(a0, a1)
        t = normalise(s.read("proj", rows, frames), dark, groups, s.theta[frames],
                      None if s.current_proj is None else s.current_proj[frames],
                      s.saturation, where)
        data = self.rec.projections(t, pad_rows=(self.margin - top, self.margin - bottom))
        del t
        return np.ascontiguousarray(data[:, top:top + (r1 - r0)], dtype=np.float32)

    def batches(self) -> list:
        """``(a0, a1)`` angle ranges of the batches."""
        n = self.scan.n_proj
        return [(a0, min(a0 + self.batch_size, n)) for a0 in range(0, n, self.batch_size)]

    def __call__(self, r0: int, r1: int, where: str = "") -> np.ndarray:
        """−log projections of every angle for binned rows ``r0:r1``."""
        return np.concatenate([self.batch(r0, r1, a0, a1, where) for a0, a1 in self.batches()])


class ScanSlabs:
    """A :class:`Reconstructor` applied to scans read slab by slab: the volume's tasks.

    A slab is made in two kinds of step, the same in a local and a distributed run (so both
    give the same bits): :meth:`part` turns a batch of projections (a range of angles) of one
    input into −log projections for the slab's rows; :meth:`slab` stacks the batches into
    sinograms and runs :meth:`Reconstructor.slices`. The open scans and preprocessors live in
    this object (built on first use, also after unpickling on a dask worker) until
    :meth:`close`.

    Parameters
    ----------
    rec : Reconstructor
    scans : list of Scan or list of str
        Opened scans, or the paths to open (on first use, in each process).
    params : ReconParams, optional
        For ``rows`` and ``flat_source`` (default ``rec.params``).
    """

    def __init__(self, rec: Reconstructor, scans, params=None):
        self.rec = rec
        self.params = params if params is not None else rec.params
        if self.params.rows is None:
            raise HipctError("rows: the detector rows to reconstruct are not set")
        self.inputs = [s.path if isinstance(s, Scan) else str(s) for s in scans]
        opened = [s for s in scans if isinstance(s, Scan)]
        self.window = None              # (lo, hi) in 1/cm for uint16 output
        self.token = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._state = None
        if len(opened) == len(scans):
            self._state = self._build(opened)

    def __getstate__(self):
        if any(s.layout == "memory" for s in (self._state or {}).get("scans", [])):
            raise HipctError("scheduler: in-memory scans cannot go to other processes")
        state = self.__dict__.copy()
        state["_state"], state["_lock"] = None, None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _build(self, scans):
        return {"scans": scans, "pres": [Preprocessor(s, self.rec, self.params) for s in scans]}

    def _get(self) -> dict:
        st = self._state
        if st is None:
            with self._lock:
                if self._state is None:
                    self._state = self._build([open_scan(p) for p in self.inputs])
                st = self._state
        return st

    @property
    def scans(self) -> list:
        return self._get()["scans"]

    def close(self) -> None:
        """Drop the open scans (closing their files), references and plans."""
        self._state = None
        self.rec.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def batches(self) -> list:
        """``(input, a0, a1)`` for every batch of projections."""
        return [(i, a0, a1) for i, pre in enumerate(self._get()["pres"])
                for a0, a1 in pre.batches()]

    def part(self, i: int, r0: int, r1: int, a0: int, a1: int, where: str = "") -> np.ndarray:
        """Projections ``a0:a1`` of input ``i``, preprocessed, for binned rows ``r0:r1``."""
        return self._get()["pres"][i].batch(r0, r1, a0, a1, where)

    def parts(self, r0: int, r1: int, where: str = ""):
        """The batches of :meth:`part` for rows ``r0:r1``, made one at a time (a generator)."""
        return (self.part(i, r0, r1, a0, a1, where) for i, a0, a1 in self.batches())

    def slab(self, r0: int, r1: int, parts, convert: bool = True) -> np.ndarray:
        """Slices ``r0:r1`` from the batches of :meth:`parts` (in :meth:`batches` order).

        ``parts`` may be a generator: each batch is copied into the sinogram stack as it
        comes, so a local run holds one stack and one batch, never both in full. With
        ``convert`` and ``params.dtype == 'uint16'`` the slices are mapped through
        :attr:`window`.
        """
        pres = self._get()["pres"]
        b = self.rec.geometry.binning
        sinos = [np.empty((r1 - r0, pre.scan.n_proj, pre.scan.n_cols // b), np.float32)
                 for pre in pres]
        for (i, a0, a1), part in zip(self.batches(), parts):
            sinos[i][:, a0:a1] = part.transpose(1, 0, 2)
            del part
        sl = self.rec.slices(sinos)
        if convert and self.params.dtype == "uint16":
            from .io.writers import to_uint16
            sl = to_uint16(sl, self.window)
        return sl

    def centre_sinograms(self, n_rows_binned: int) -> list:
        """Per input, ``(rows, angles, cols)`` absorption (−log) data for the centre: up to
        :data:`AUTO_COR_ROWS` rows in blocks of 8 spread evenly over the height (fewer when
        the projections are many and wide), since the evidence of a half acquisition's
        overlap grows with the rows correlated.

        Phase retrieval and the unsharp mask are left out: Paganin's edge padding differs
        between a projection and its mirror partner exactly where a half acquisition's
        overlap lies, at the detector edge; the centre search smooths along the angle instead.
        """
        pres = self._get()["pres"]
        scan, b = pres[0].scan, pres[0].b
        per_row = max(1, scan.n_proj * (scan.n_cols // b))
        n_rows = int(min(AUTO_COR_ROWS, n_rows_binned, max(8, AUTO_COR_FLOATS // per_row)))
        n_blocks = max(1, n_rows // 8)
        block = min(8, n_rows_binned)
        starts = (np.unique(np.round(np.linspace(0, n_rows_binned - block, n_blocks)).astype(int))
                  if n_blocks > 1 else [max(0, n_rows_binned // 2 - block // 2)])
        plain = Reconstructor(replace(self.rec.params, delta_beta=0.0, unsharp_sigma_px=0.0,
                                      ring_size=0), self.rec.geometry)
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", HipctWarning)
            for pre in pres:
                absorption = Preprocessor(pre.scan, plain, self.params)
                # the same raw rows as the full preprocessing reads (its margin)
                absorption.margin = pre.margin
                out.append(np.concatenate([absorption(int(r0), int(r0) + block, "")
                                           .transpose(1, 0, 2) for r0 in starts]))
        return out

