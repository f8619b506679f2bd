"""Defaults of the ``hipct simulate`` options, as written on the command line.

One table for the parser (:mod:`hipct.cli_simulate`, its ``--help``) and the schema
(:class:`hipct.simulation.options.SimulateOptions`); kept apart from both so that building the
parser does not import pydantic.
"""

__all__ = ["DEFAULTS"]

DEFAULTS = {"width": 128, "rows": 8, "energy_bins": 8, "oversample": 2, "exposure_scale": 1.0,
            "blur": "0 um", "flats": 20, "seed": 0, "phantom_seed": 0, "pixel_size": "10 um",
            "position": "0,0,0", "stages": 1, "z_step": "0 mm", "overlap": 8}
