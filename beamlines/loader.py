"""Load and validate beamline descriptions (YAML) into typed objects.

The built-in beamlines live beside this file (``bm18.yaml``, ``bm05.yaml``); a plan may
instead name its own file (``beamline: ./my_lab_source.yaml``). Every quantity is a string
with a unit; hardware is looked up case-insensitively, by name or alias.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from hipct.errors import BeamlineError, PlanError
from hipct.units import length_m, parse_quantity, time_s, to_float

__all__ = ["Source", "Optic", "Camera", "ScintillatorType", "Screen", "AcquisitionDefaults",
           "Beamline", "load_beamline", "builtin_beamlines", "read_yaml"]


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
    """Beamline habits used where a plan is silent."""

    n_ref: int = 101
    ref_groups: int = 2
    n_dark: int = 20
    overhead_per_scan_s: float = 120.0
    vertical_step_m: float = 5e-3


@dataclass(frozen=True)
class Beamline:
    """A beamline description."""

    name: str
    source: Source
    beamline_filters: tuple = ()
    optics: dict = field(default_factory=dict)
    cameras: dict = field(default_factory=dict)
    scintillators: dict = field(default_factory=dict)
    defaults: AcquisitionDefaults = AcquisitionDefaults()
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


def read_yaml(path: Path, what: str):
    """Read a YAML file; syntax errors become one-line :class:`PlanError` with the line."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise PlanError(f"{what}: cannot read {path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PlanError(f"{what}: YAML syntax error in {path}{where}: {problem}") from None


def builtin_beamlines() -> list[str]:
    """Names of the beamline descriptions shipped with hipct."""
    return sorted(p.name[:-5].upper() for p in resources.files("hipct.beamlines").iterdir()
                  if p.name.endswith(".yaml"))


@lru_cache(maxsize=32)
def load_beamline(name_or_path: str) -> Beamline:
    """Load a built-in beamline by name (``"BM18"``) or a beamline YAML file by path.

    Raises
    ------
    BeamlineError
        Unknown beamline (with the known names) or an invalid description.
    """
    text = str(name_or_path)
    if text.lower().endswith((".yaml", ".yml")) or "/" in text:
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
        data = yaml.safe_load(res.read_text())
        where = text.upper()
    if not isinstance(data, dict):
        raise BeamlineError(f"beamline {where}: expected a mapping at the top level")
    return _build(data, where)


def _build(d: dict, where: str) -> Beamline:
    from hipct.planner.layers import parse_layer  # planner imports beamlines lazily too

    def req(mapping, key, ctx):
        if key not in mapping:
            raise BeamlineError(f"beamline {where}: missing '{ctx}{key}'")
        return mapping[key]

    s = req(d, "source", "")
    stype = s.get("type", "bending_magnet")
    ctx = f"beamline {where}: source"
    if stype == "bending_magnet":
        size = s.get("source_size", {}) or {}
        src = Source(
            type=stype,
            source_to_sample_m=length_m(req(s, "source_to_sample", "source."),
                                        f"{ctx}.source_to_sample"),
            field_t=to_float(parse_quantity(req(s, "field", "source."), "magnetic_field",
                                            f"{ctx}.field"), "T"),
            electron_energy_gev=to_float(parse_quantity(s.get("electron_energy", "6 GeV"),
                                                        "energy", f"{ctx}.electron_energy"), "GeV"),
            ring_current_a=to_float(parse_quantity(s.get("ring_current", "200 mA"), "current",
                                                   f"{ctx}.ring_current"), "A"),
            size_rms_h_m=length_m(size.get("horizontal", "0 um"),
                                  f"{ctx}.source_size.horizontal", allow_zero=True),
            size_rms_v_m=length_m(size.get("vertical", "0 um"),
                                  f"{ctx}.source_size.vertical", allow_zero=True),
        )
    elif stype == "monochromatic":
        src = parse_monochromatic(s, ctx)
    else:
        raise BeamlineError(f"{ctx}.type: {stype!r} is not allowed; use bending_magnet or "
                            f"monochromatic")
    rods = d.get("rod_filters")
    rod_filters = None
    if rods is not None:
        if not isinstance(rods, dict) or set(rods) - {"diameter", "beam_height"}:
            raise BeamlineError(f"beamline {where}: rod_filters: expected {{diameter, "
                                f"beam_height}}, e.g. {{diameter: 4 mm, beam_height: 2.2 mm}}")
        rod_filters = (length_m(req(rods, "diameter", "rod_filters."),
                                f"beamline {where}: rod_filters.diameter"),
                       length_m(req(rods, "beam_height", "rod_filters."),
                                f"beamline {where}: rod_filters.beam_height"))
    filters = tuple(parse_layer(f, f"beamline {where}: beamline_filters[{i}]", rod_filters)
                    for i, f in enumerate(d.get("beamline_filters") or []))
    optics, cameras, scints = {}, {}, {}
    aliases = {"optics": {}, "cameras": {}, "scintillators": {}}
    throughput = float(d.get("optics_transmission", 1.0))
    if not 0 < throughput <= 1:
        raise BeamlineError(f"beamline {where}: optics_transmission must be in (0, 1], "
                            f"got {throughput}")
    for name, o in (d.get("optics") or {}).items():
        mag = req(o, "magnification", f"optics.{name}.")
        lo, hi = (mag, mag) if not isinstance(mag, (list, tuple)) else (mag[0], mag[1])
        f_number = o.get("f_number")
        optics[name] = Optic(name, o.get("type", "fixed"), float(lo), float(hi),
                             float(o.get("na", 0.1)),
                             None if f_number is None else float(f_number),
                             float(o.get("transmission", throughput)))
        for a in (name, *o.get("aliases", [])):
            aliases["optics"][_norm(a)] = name
    for name, c in (d.get("cameras") or {}).items():
        nx, ny = req(c, "format", f"cameras.{name}.")
        binned_bits = c.get("binned_bit_depth")
        if binned_bits is not None and (not isinstance(binned_bits, int) or binned_bits < 1):
            raise BeamlineError(f"beamline {where}: cameras.{name}.binned_bit_depth: expected a "
                                f"positive integer (e.g. 16 or 32), got {binned_bits!r}")
        cameras[name] = Camera(
            name, int(nx), int(ny),
            length_m(req(c, "pixel_size", f"cameras.{name}."),
                     f"beamline {where}: cameras.{name}.pixel_size"),
            float(c.get("full_well", 30000)), float(c.get("read_noise", 1.5)),
            int(c.get("bit_depth", 16)), float(c.get("quantum_efficiency", 0.7)),
            tuple(c.get("binning", [1, 2, 4])),
            time_s(c.get("latency", "0 s"), f"beamline {where}: cameras.{name}.latency",
                   allow_zero=True), binned_bits)
        for a in (name, *c.get("aliases", [])):
            aliases["cameras"][_norm(a)] = name
    for name, sc in (d.get("scintillators") or {}).items():
        scints[name] = ScintillatorType(
            name, req(sc, "formula", f"scintillators.{name}."),
            to_float(parse_quantity(req(sc, "density", f"scintillators.{name}."), "density",
                                    f"beamline {where}: scintillators.{name}.density"), "g/cm^3"),
            float(sc.get("light_yield", 20000)), float(sc.get("refractive_index", 1.8)))
        for a in (name, *sc.get("aliases", [])):
            aliases["scintillators"][_norm(a)] = name
    a = d.get("acquisition_defaults") or {}
    defaults = AcquisitionDefaults(
        n_ref=int(a.get("n_ref", 101)), ref_groups=int(a.get("ref_groups", 2)),
        n_dark=int(a.get("n_dark", 20)),
        overhead_per_scan_s=time_s(a.get("overhead_per_scan", "120 s"),
                                   "acquisition_defaults.overhead_per_scan", allow_zero=True),
        vertical_step_m=length_m(a.get("vertical_step", "5 mm"),
                                 "acquisition_defaults.vertical_step"))
    medium = d.get("propagation_medium", "air")
    if medium is not None and str(medium).strip().lower() in ("vacuum", "none", ""):
        medium = None
    if medium is not None:
        from hipct.planner.materials import resolve_material
        resolve_material(str(medium), field=f"beamline {where}: propagation_medium")
    return Beamline(str(d.get("name", where)), src, filters, optics, cameras, scints, defaults,
                    aliases, rod_filters, None if medium is None else str(medium))


def parse_monochromatic(s: dict, ctx: str) -> Source:
    """Parse ``{type: monochromatic, energy, flux, beam_size: 'W x H', source_to_sample}``."""
    for key in ("energy", "flux", "beam_size"):
        if key not in s:
            raise PlanError(f"{ctx}.{key}: missing (a monochromatic source needs energy, flux "
                            f"and beam_size, e.g. beam_size: 1 mm x 1 mm)")
    energy = to_float(parse_quantity(s["energy"], "energy", f"{ctx}.energy"), "keV")
    flux = to_float(parse_quantity(s["flux"], "frequency", f"{ctx}.flux"), "1/s")
    parts = re.split(r"\s*[x×]\s*(?=[\d.])", str(s["beam_size"]).strip())
    if len(parts) != 2:
        raise PlanError(f"{ctx}.beam_size: {s['beam_size']!r}; write 'WIDTH x HEIGHT', "
                        f"e.g. '1 mm x 1 mm'")
    w, h = (length_m(p, f"{ctx}.beam_size") * 1e3 for p in parts)
    dist = s.get("source_to_sample", "50 m")
    return Source(type="monochromatic",
                  source_to_sample_m=length_m(dist, f"{ctx}.source_to_sample"),
                  energy_kev=energy, flux_per_s=flux, beam_area_mm2=w * h)
