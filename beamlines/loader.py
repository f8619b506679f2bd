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

from hipct.errors import BeamlineError, PlanError
from hipct.fields import check_keys, load_yaml, number, read_yaml, whole
from hipct.units import length_m, parse_quantity, time_s, to_float

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
        data = load_yaml(res.read_text(), "beamline", text.upper(), error=BeamlineError)
        where = text.upper()
    if not isinstance(data, dict):
        raise BeamlineError(f"beamline {where}: expected a mapping at the top level")
    return _build(data, where)


_TOP_KEYS = ("name", "facility", "source", "beamline_filters", "filter_materials", "optics",
             "cameras", "scintillators", "acquisition_defaults", "optics_transmission",
             "rod_filters", "propagation_medium")
_SOURCE_KEYS = ("type", "field", "electron_energy", "ring_current", "source_size",
                "source_to_sample", "energy", "flux", "beam_size")
_OPTIC_KEYS = ("type", "magnification", "na", "f_number", "transmission", "aliases")
_CAMERA_KEYS = ("format", "pixel_size", "full_well", "read_noise", "bit_depth",
                "quantum_efficiency", "binning", "latency", "binned_bit_depth", "aliases")
_SCINT_KEYS = ("formula", "density", "light_yield", "refractive_index", "aliases")
_DEFAULT_KEYS = ("n_ref", "ref_groups", "n_dark", "overhead_per_scan",
                 "vertical_step")


def _aliases(entry: dict, name, ctx: str) -> list:
    extra = entry.get("aliases") or []
    if not isinstance(extra, list) or not all(isinstance(a, (str, int, float)) for a in extra):
        raise BeamlineError(f"{ctx}.aliases: expected a list of names, got {extra!r}")
    return [str(name), *map(str, extra)]


def _table(d: dict, key: str, where: str) -> dict:
    table = d.get(key) or {}
    if not isinstance(table, dict):
        raise BeamlineError(f"beamline {where}: {key}: expected a mapping of name: {{...}}, "
                            f"got {type(table).__name__}")
    return table


def _build(d: dict, where: str) -> Beamline:
    """Validate a beamline mapping: known keys only, finite numbers in physical bounds."""
    from hipct.physics.layers import parse_layer  # planner imports beamlines lazily too

    err = BeamlineError
    check_keys(d, _TOP_KEYS, f"beamline {where}", error=err)

    def req(mapping, key, ctx):
        if key not in mapping:
            raise BeamlineError(f"beamline {where}: missing '{ctx}{key}'")
        return mapping[key]

    s = req(d, "source", "")
    ctx = f"beamline {where}: source"
    check_keys(s, _SOURCE_KEYS, ctx, error=err)
    stype = s.get("type", "bending_magnet")
    if stype == "bending_magnet":
        size = s.get("source_size", {}) or {}
        check_keys(size, ("horizontal", "vertical"), f"{ctx}.source_size", error=err)
        src = Source(
            type=stype,
            source_to_sample_m=length_m(req(s, "source_to_sample", "source."),
                                        f"{ctx}.source_to_sample", bounds=(0.01, 10_000, "m")),
            field_t=to_float(parse_quantity(req(s, "field", "source."), "magnetic_field",
                                            f"{ctx}.field", bounds=(1e-3, 20, "T")), "T"),
            electron_energy_gev=to_float(parse_quantity(
                s.get("electron_energy", "6 GeV"), "energy", f"{ctx}.electron_energy",
                bounds=(0.1, 20, "GeV")), "GeV"),
            ring_current_a=to_float(parse_quantity(s.get("ring_current", "200 mA"), "current",
                                                   f"{ctx}.ring_current",
                                                   bounds=(None, 1, "A")), "A"),
            size_rms_h_m=length_m(size.get("horizontal", "0 um"),
                                  f"{ctx}.source_size.horizontal", allow_zero=True,
                                  bounds=(0, 0.01, "m")),
            size_rms_v_m=length_m(size.get("vertical", "0 um"),
                                  f"{ctx}.source_size.vertical", allow_zero=True,
                                  bounds=(0, 0.01, "m")),
        )
    elif stype == "monochromatic":
        src = parse_monochromatic(s, ctx)
    else:
        raise BeamlineError(f"{ctx}.type: {stype!r} is not allowed; use bending_magnet or "
                            f"monochromatic")
    bl_filters = d.get("beamline_filters") or []
    if not isinstance(bl_filters, list):
        raise BeamlineError(f"beamline {where}: beamline_filters: expected a list")
    rods = d.get("rod_filters")
    rod_filters = None
    if rods is not None:
        if not isinstance(rods, dict) or set(rods) - {"diameter", "beam_height"}:
            raise BeamlineError(f"beamline {where}: rod_filters: expected {{diameter, "
                                f"beam_height}}, e.g. {{diameter: 4 mm, beam_height: 2.2 mm}}")
        rod_filters = (length_m(req(rods, "diameter", "rod_filters."),
                                f"beamline {where}: rod_filters.diameter",
                                bounds=(1e-6, 1, "m")),
                       length_m(req(rods, "beam_height", "rod_filters."),
                                f"beamline {where}: rod_filters.beam_height",
                                bounds=(1e-6, 1, "m")))
    filters = tuple(parse_layer(f, f"beamline {where}: beamline_filters[{i}]", rod_filters)
                    for i, f in enumerate(bl_filters))
    optics, cameras, scints = {}, {}, {}
    aliases = {"optics": {}, "cameras": {}, "scintillators": {}}
    throughput = number(d.get("optics_transmission", 1.0), f"beamline {where}: "
                        f"optics_transmission", 0, 1, open_lo=True, error=err)
    for name, o in _table(d, "optics", where).items():
        octx = f"beamline {where}: optics.{name}"
        check_keys(o, _OPTIC_KEYS, octx, error=err)
        mag = req(o, "magnification", f"optics.{name}.")
        if isinstance(mag, (list, tuple)):
            if len(mag) != 2:
                raise BeamlineError(f"{octx}.magnification: expected M or [MIN, MAX], got {mag!r}")
            lo, hi = mag
        else:
            lo = hi = mag
        lo = number(lo, f"{octx}.magnification", 0, 1e4, open_lo=True, error=err)
        hi = number(hi, f"{octx}.magnification", lo, 1e4, error=err)
        otype = o.get("type", "fixed")
        if otype not in ("fixed", "zoom"):
            raise BeamlineError(f"{octx}.type: {otype!r} is not allowed; use fixed or zoom")
        f_number = o.get("f_number")
        optics[name] = Optic(str(name), otype, lo, hi,
                             number(o.get("na", 0.1), f"{octx}.na", 0, 1.6, open_lo=True,
                                    error=err),
                             None if f_number is None else
                             number(f_number, f"{octx}.f_number", 0.5, 100, error=err),
                             number(o.get("transmission", throughput), f"{octx}.transmission",
                                    0, 1, open_lo=True, error=err))
        for a in _aliases(o, name, octx):
            aliases["optics"][_norm(a)] = name
    for name, c in _table(d, "cameras", where).items():
        cctx = f"beamline {where}: cameras.{name}"
        check_keys(c, _CAMERA_KEYS, cctx, error=err)
        fmt = req(c, "format", f"cameras.{name}.")
        if not isinstance(fmt, (list, tuple)) or len(fmt) != 2:
            raise BeamlineError(f"{cctx}.format: expected [WIDTH, HEIGHT] in pixels, got {fmt!r}")
        nx, ny = (whole(v, f"{cctx}.format", 1, 100_000, error=err) for v in fmt)
        binning = c.get("binning", [1, 2, 4])
        if not isinstance(binning, list) or not binning:
            raise BeamlineError(f"{cctx}.binning: expected a list such as [1, 2, 4]")
        binned_bits = c.get("binned_bit_depth")
        cameras[name] = Camera(
            str(name), nx, ny,
            length_m(req(c, "pixel_size", f"cameras.{name}."), f"{cctx}.pixel_size",
                     bounds=(1e-7, 1e-3, "m")),
            number(c.get("full_well", 30000), f"{cctx}.full_well", 1, 1e9, error=err),
            number(c.get("read_noise", 1.5), f"{cctx}.read_noise", 0, 1e5, error=err),
            whole(c.get("bit_depth", 16), f"{cctx}.bit_depth", 1, 32, error=err),
            number(c.get("quantum_efficiency", 0.7), f"{cctx}.quantum_efficiency", 0, 1,
                   open_lo=True, error=err),
            tuple(whole(b, f"{cctx}.binning", 1, 64, error=err) for b in binning),
            time_s(c.get("latency", "0 s"), f"{cctx}.latency", allow_zero=True,
                   bounds=(0, 60, "s")),
            None if binned_bits is None else
            whole(binned_bits, f"{cctx}.binned_bit_depth", 1, 64, error=err))
        for a in _aliases(c, name, cctx):
            aliases["cameras"][_norm(a)] = name
    for name, sc in _table(d, "scintillators", where).items():
        sctx = f"beamline {where}: scintillators.{name}"
        check_keys(sc, _SCINT_KEYS, sctx, error=err)
        formula = req(sc, "formula", f"scintillators.{name}.")
        if not isinstance(formula, str):
            raise BeamlineError(f"{sctx}.formula: expected a chemical formula, got {formula!r}")
        scints[name] = ScintillatorType(
            str(name), formula,
            to_float(parse_quantity(req(sc, "density", f"scintillators.{name}."), "density",
                                    f"{sctx}.density", bounds=(0.01, 30, "g/cm^3")), "g/cm^3"),
            number(sc.get("light_yield", 20000), f"{sctx}.light_yield", 0, 1e6, open_lo=True,
                   error=err),
            number(sc.get("refractive_index", 1.8), f"{sctx}.refractive_index", 1, 5,
                   error=err))
        for a in _aliases(sc, name, sctx):
            aliases["scintillators"][_norm(a)] = name
    a = d.get("acquisition_defaults") or {}
    actx = f"beamline {where}: acquisition_defaults"
    check_keys(a, _DEFAULT_KEYS, actx, error=err)
    defaults = AcquisitionDefaults(
        n_ref=whole(a.get("n_ref", 101), f"{actx}.n_ref", 0, 100_000, error=err),
        ref_groups=whole(a.get("ref_groups", 2), f"{actx}.ref_groups", 0, 10_000, error=err),
        n_dark=whole(a.get("n_dark", 20), f"{actx}.n_dark", 0, 100_000, error=err),
        overhead_per_scan_s=time_s(a.get("overhead_per_scan", "120 s"),
                                   f"{actx}.overhead_per_scan", allow_zero=True,
                                   bounds=(0, 86400, "s")),
        vertical_step_m=length_m(a.get("vertical_step", "5 mm"), f"{actx}.vertical_step",
                                 bounds=(1e-7, 10, "m")))
    medium = d.get("propagation_medium", "air")
    if medium is not None and not isinstance(medium, str):
        raise BeamlineError(f"beamline {where}: propagation_medium: expected a material name "
                            f"(e.g. air) or vacuum, got {medium!r}")
    if medium is not None and medium.strip().lower() in ("vacuum", "none", ""):
        medium = None
    if medium is not None:
        from hipct.physics.materials import resolve_material
        resolve_material(medium, field=f"beamline {where}: propagation_medium")
    name = d.get("name", where)
    if not isinstance(name, (str, int, float)) or isinstance(name, bool):
        raise BeamlineError(f"beamline {where}: name: expected text, got {name!r}")
    return Beamline(str(name), src, filters, optics, cameras, scints, defaults, aliases,
                    rod_filters, medium)


def parse_monochromatic(s: dict, ctx: str) -> Source:
    """Parse ``{type: monochromatic, energy, flux, beam_size: 'W x H', source_to_sample}``."""
    for key in ("energy", "flux", "beam_size"):
        if key not in s:
            raise PlanError(f"{ctx}.{key}: missing (a monochromatic source needs energy, flux "
                            f"and beam_size, e.g. beam_size: 1 mm x 1 mm)")
    energy = to_float(parse_quantity(s["energy"], "energy", f"{ctx}.energy",
                                     bounds=(1, 800, "keV")), "keV")
    flux = to_float(parse_quantity(s["flux"], "frequency", f"{ctx}.flux",
                                   bounds=(None, 1e20, "1/s")), "1/s")
    parts = re.split(r"\s*[x×]\s*(?=[\d.])", str(s["beam_size"]).strip())
    if len(parts) != 2:
        raise PlanError(f"{ctx}.beam_size: {s['beam_size']!r}; write 'WIDTH x HEIGHT', "
                        f"e.g. '1 mm x 1 mm'")
    w, h = (length_m(p, f"{ctx}.beam_size", bounds=(1e-7, 1, "m")) * 1e3 for p in parts)
    dist = s.get("source_to_sample", "50 m")
    return Source(type="monochromatic",
                  source_to_sample_m=length_m(dist, f"{ctx}.source_to_sample",
                                              bounds=(0.01, 10_000, "m")),
                  energy_kev=energy, flux_per_s=flux, beam_area_mm2=w * h)
