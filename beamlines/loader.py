"""Load and validate beamline descriptions (YAML) into typed objects.

The built-in beamlines live beside this file (``bm18.yaml``, ``bm05.yaml``); a plan may
instead name its own file (``beamline: ./my_lab_source.yaml``). Every quantity is a string
with a unit; a file is validated by its schema (:class:`~.schema.BeamlineModel`: unknown keys
refused with the closest valid name); hardware is looked up case-insensitively, by name or
alias.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from hipct.errors import BeamlineError, PlanError
from hipct.fields import load_yaml, read_yaml, validate
from hipct.units import length_m

from .schema import AcquisitionDefaultsModel, BeamlineModel, MonochromaticSourceModel

__all__ = ["Source", "Optic", "Camera", "ScintillatorType", "Screen", "AcquisitionDefaults",
           "Beamline", "load_beamline", "builtin_beamlines"]


@dataclass(frozen=True)
class Source:
    """X-ray source.

    ``type`` is ``bending_magnet`` (field, electron energy, ring current) or
    ``monochromatic`` (energy, flux, beam area).
    """

    type: str
    source_to_sample_m: float
    field_t: float = 0.0
    electron_energy_gev: float = 6.0
    ring_current_a: float = 0.2
    size_rms_h_m: float = 0.0
    size_rms_v_m: float = 0.0
    energy_kev: float = 0.0
    flux_per_s: float = 0.0
    beam_area_mm2: float = 0.0


@dataclass(frozen=True)
class Optic:
    """Visible-light optic between scintillator and camera."""

    name: str
    type: str  # "fixed" or "zoom"
    mag_min: float
    mag_max: float
    na: float
    f_number: float | None = None
    transmission: float = 1.0  # fraction of the collected light reaching the camera

    def na_at(self, mag: float | None) -> float:
        """Object-side numerical aperture at magnification ``mag``.

        A zoom lens given by its f-number N collects NA = M / (2 N (1 + M)) (working
        f-number N (1 + M) on the image side, NA scaled by M to the object side; e.g.
        Hecht, *Optics*, §5.3.3); a fixed optic has its stated NA.
        """
        if self.f_number is None or mag is None:
            return self.na
        return mag / (2.0 * self.f_number * (1.0 + mag))

    def check_magnification(self, mag: float, field: str) -> float:
        """Return ``mag`` if the optic reaches it, else raise a PlanError naming the range."""
        if not (self.mag_min * (1 - 1e-6) <= mag <= self.mag_max * (1 + 1e-6)):
            if self.type == "fixed":
                allowed = f"the fixed {self.name} optic magnifies {self.mag_min:g}x"
            else:
                allowed = f"{self.name} reaches {self.mag_min:g}x to {self.mag_max:g}x"
            raise PlanError(f"{field}: optic magnification {mag:.4g}x is out of range; {allowed}")
        return mag


@dataclass(frozen=True)
class Camera:
    """Camera (sensor) properties. Noise in electrons."""

    name: str
    nx: int
    ny: int
    pixel_size_m: float
    full_well_e: float
    read_noise_e: float
    bit_depth: int
    quantum_efficiency: float
    binnings: tuple
    latency_s: float = 0.0  # dead time between sub-frames (read-out), beam on
    binned_bit_depth: int | None = None  # output word of a binned pixel; None: bit_depth

    def full_well_binned_e(self, binning: int) -> float:
        """Largest signal one binned pixel records (electrons).

        The camera bins digitally (sCMOS): the n² pixels are read out, each with its own well,
        and summed in an output word of ``binned_bit_depth`` bits at the pixel's gain. The
        binned pixel saturates at min(n² × full well, (2^bits - 1) × gain): with a 16-bit word
        and the gain mapping one pixel's well onto 16 bits, one pixel's full well.
        """
        bits = self.bit_depth if self.binned_bit_depth is None else self.binned_bit_depth
        return min(self.full_well_e * binning ** 2, (2 ** bits - 1) * self.gain_e_per_adu)

    @property
    def gain_e_per_adu(self) -> float:
        """Electrons per grey level, mapping the full well onto the ADC range."""
        return self.full_well_e / (2 ** self.bit_depth - 1)


@dataclass(frozen=True)
class ScintillatorType:
    """A scintillator material and its optical properties."""

    name: str
    formula: str
    density_g_cm3: float
    light_yield_per_mev: float
    refractive_index: float


@dataclass(frozen=True)
class Screen:
    """A scintillator screen: a material of some thickness."""

    kind: ScintillatorType
    thickness_m: float
    label: str


@dataclass(frozen=True)
class AcquisitionDefaults:
    """Beamline habits used where a plan is silent (defaults:
    :class:`~.schema.AcquisitionDefaultsModel`)."""

    n_ref: int
    ref_groups: int
    n_dark: int
    overhead_per_scan_s: float
    vertical_step_m: float


@dataclass(frozen=True)
class Beamline:
    """A beamline description."""

    name: str
    source: Source
    beamline_filters: tuple = ()
    optics: dict = field(default_factory=dict)
    cameras: dict = field(default_factory=dict)
    scintillators: dict = field(default_factory=dict)
    defaults: AcquisitionDefaults = field(
        default_factory=lambda: _defaults(AcquisitionDefaultsModel()))
    _aliases: dict = field(default_factory=dict, repr=False)
    rod_filters: tuple | None = None  # (rod diameter, beam height at the filters) in m
    propagation_medium: str | None = "air"  # between sample and screen; None: vacuum

    def _lookup(self, table: str, name: str, field: str):
        key = _norm(name)
        hits = self._aliases[table]
        if key in hits:
            return getattr(self, table)[hits[key]]
        close = difflib.get_close_matches(key, list(hits), n=3, cutoff=0.5)
        names = sorted(getattr(self, table))
        hint = (f"did you mean {', '.join(repr(n) for n in dict.fromkeys(hits[c] for c in close))}?"
                if close else f"{self.name} has: {', '.join(names)}")
        raise PlanError(f"{field}: unknown {table[:-1]} {name!r} on {self.name}; {hint}")

    def optic(self, name: str, field: str = "detector.optic") -> Optic:
        """Look up an optic by name or alias (case-insensitive)."""
        return self._lookup("optics", name, field)

    def camera(self, name: str, field: str = "detector.camera") -> Camera:
        """Look up a camera by name or alias (case-insensitive)."""
        return self._lookup("cameras", name, field)

    def screen(self, text: str, field: str = "detector.scintillator") -> Screen:
        """Parse ``"GAGG 1000 um"`` or the HOA spelling ``"LuAG:Ce 100um, reflective"``."""
        core = str(text).split(",")[0].strip()
        core = re.sub(r"^(multi|dual)\s+", "", core, flags=re.IGNORECASE)
        m = re.match(r"^(?P<name>.+?)\s+(?P<thick>[\d.]+\s*[a-zA-Zµμ]+)$", core)
        if m is None:
            raise PlanError(f"{field}: {text!r} needs a thickness, e.g. 'LuAG 100 um'")
        kind = self._lookup("scintillators", m.group("name"), field)
        thick = length_m(m.group("thick"), field)
        return Screen(kind, thick, str(text))


def _norm(name: str) -> str:
    return " ".join(str(name).lower().replace("_", " ").split())


def builtin_beamlines() -> list[str]:
    """Names of the beamline descriptions shipped with hipct."""
    return sorted(p.name[:-5].upper() for p in resources.files("hipct.beamlines").iterdir()
                  if p.name.endswith(".yaml"))


def load_beamline(name_or_path: str) -> Beamline:
    """Load a built-in beamline by name (``"BM18"``) or a beamline YAML file by path.

    A file is parsed again when it has changed since it was last loaded (its modification
    time, size or inode differ); unchanged files and the built-in descriptions are parsed
    once per process.

    Raises
    ------
    BeamlineError
        Unknown beamline (with the known names) or an invalid description.
    """
    text = str(name_or_path)
    return _load_beamline(text, _file_stamp(text))


def _is_path(text: str) -> bool:
    return text.lower().endswith((".yaml", ".yml")) or "/" in text


def _file_stamp(text: str):
    """What identifies a version of a beamline file; ``None`` for a built-in name or a path
    that cannot be read (the loader then reports why)."""
    if not _is_path(text):
        return None
    try:
        st = os.stat(text)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)


@lru_cache(maxsize=32)
def _load_beamline(text: str, stamp) -> Beamline:
    if _is_path(text):
        data = read_yaml(Path(text), "beamline")
        where = text
    else:
        res = resources.files("hipct.beamlines").joinpath(f"{text.lower()}.yaml")
        if not res.is_file():
            known = builtin_beamlines()
            close = difflib.get_close_matches(text.upper(), known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise BeamlineError(f"beamline: unknown beamline {text!r}; {hint}built-in: "
                                f"{', '.join(known)}, or a path to a beamline YAML file")
        data = load_yaml(res.read_text(), "beamline", text.upper(), error=BeamlineError)
        where = text.upper()
    if not isinstance(data, dict):
        raise BeamlineError(f"beamline {where}: expected a mapping at the top level")
    return _build(data, where)


def _build(d: dict, where: str) -> Beamline:
    """Validate a beamline mapping (:class:`~.schema.BeamlineModel`: known keys only, finite
    numbers in physical bounds) and build the hardware objects."""
    from hipct.physics.layers import parse_layer

    ctx = f"beamline {where}"
    m = validate(BeamlineModel, d, ctx, error=BeamlineError)
    s = m.source
    if s.type == "bending_magnet":
        for key in ("source_to_sample", "field"):
            if getattr(s, key) is None:
                raise BeamlineError(f"{ctx}: missing 'source.{key}'")
        src = Source(type=s.type, source_to_sample_m=s.source_to_sample, field_t=s.field,
                     electron_energy_gev=s.electron_energy, ring_current_a=s.ring_current,
                     size_rms_h_m=s.source_size.horizontal, size_rms_v_m=s.source_size.vertical)
    else:
        src = _monochromatic(s, f"{ctx}: source")
    rod_filters = (None if m.rod_filters is None else
                   (m.rod_filters.diameter, m.rod_filters.beam_height))
    filters = tuple(parse_layer(f, f"{ctx}: beamline_filters[{i}]", rod_filters)
                    for i, f in enumerate(m.beamline_filters))
    optics, cameras, scints = {}, {}, {}
    aliases = {"optics": {}, "cameras": {}, "scintillators": {}}
    for name, o in m.optics.items():
        lo, hi = o.magnification
        optics[name] = Optic(str(name), o.type, lo, hi, o.na, o.f_number,
                             m.optics_transmission if o.transmission is None else o.transmission)
    for name, c in m.cameras.items():
        cameras[name] = Camera(str(name), c.format[0], c.format[1], c.pixel_size, c.full_well,
                               c.read_noise, c.bit_depth, c.quantum_efficiency, c.binning,
                               c.latency, c.binned_bit_depth)
    for name, sc in m.scintillators.items():
        scints[name] = ScintillatorType(str(name), sc.formula, sc.density, sc.light_yield,
                                        sc.refractive_index)
    for table, entries in (("optics", m.optics), ("cameras", m.cameras),
                           ("scintillators", m.scintillators)):
        for name, entry in entries.items():
            for a in (str(name), *entry.aliases):
                aliases[table][_norm(a)] = name
    defaults = _defaults(m.acquisition_defaults)
    medium = m.propagation_medium
    if medium is not None:
        from hipct.physics.materials import resolve_material
        resolve_material(medium, field=f"{ctx}: propagation_medium")
    return Beamline(m.name or where, src, filters, optics, cameras, scints, defaults, aliases,
                    rod_filters, medium)


def _defaults(a: AcquisitionDefaultsModel) -> AcquisitionDefaults:
    return AcquisitionDefaults(n_ref=a.n_ref, ref_groups=a.ref_groups, n_dark=a.n_dark,
                               overhead_per_scan_s=a.overhead_per_scan,
                               vertical_step_m=a.vertical_step)


def _monochromatic(s: MonochromaticSourceModel, ctx: str) -> Source:
    for key in ("energy", "flux", "beam_size"):
        if getattr(s, key) is None:
            raise PlanError(f"{ctx}.{key}: missing (a monochromatic source needs energy, flux "
                            f"and beam_size, e.g. beam_size: 1 mm x 1 mm)")
    parts = re.split(r"\s*[x×]\s*(?=[\d.])", s.beam_size.strip())
    if len(parts) != 2:
        raise PlanError(f"{ctx}.beam_size: {s.beam_size!r}; write 'WIDTH x HEIGHT', "
                        f"e.g. '1 mm x 1 mm'")
    w, h = (length_m(p, f"{ctx}.beam_size", bounds=(1e-7, 1, "m")) * 1e3 for p in parts)
    z1 = 50.0 if s.source_to_sample is None else s.source_to_sample
    return Source(type="monochromatic", source_to_sample_m=z1, energy_kev=s.energy,
                  flux_per_s=s.flux, beam_area_mm2=w * h)


def parse_monochromatic(s: dict, ctx: str) -> Source:
    """Parse ``{type: monochromatic, energy, flux, beam_size: 'W x H', source_to_sample}``
    (:class:`~.schema.MonochromaticSourceModel`)."""
    return _monochromatic(validate(MonochromaticSourceModel, s, ctx), ctx)
