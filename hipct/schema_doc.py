"""The field reference of hipct's input files, generated from their schemas.

``hipct schema --markdown`` (or ``python -m hipct.schema_doc``) prints it; the committed
``docs/reference.md`` is this output (a test compares them).
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["sections", "reference_markdown", "main"]

_INTRO = """\
# hipct input reference

Generated from the schemas (`hipct schema --markdown > docs/reference.md`); do not edit by hand.
Every field lists its type, the unit a value is converted to (write any unit of the same
dimension: `20 m`, `0.2 mm`, `12 ms`), the allowed range, the default and its meaning.
Unknown keys are refused with the closest valid name. A field `a.b` is the key `b` of the
mapping `a`; `NAME` stands for a name you choose (a camera, an optic).
"""


def sections():
    """``(title, what it is, model)`` of every schema, in the order of the reference page."""
    from hipct.beamlines.schema import BeamlineModel
    from hipct.simulation.options import SimulateOptions
    from hipct.planner.schema import AxisRangeModel, FilterGridModel, PlanModel, SweepModel
    from hipct.reconstruction.params import ReconParamsModel

    return [
        ("Plan", "a scan plan, `hipct plan PLAN.yaml` (template: `hipct plan --template`)",
         PlanModel),
        ("Beamline file", "`beamline: FILE.yaml` in a plan; the built-in ones are "
                          "`beamlines/bm18.yaml` and `beamlines/bm05.yaml`", BeamlineModel),
        ("Sweep file", "`hipct plan PLAN.yaml --sweep SWEEP.yaml`", SweepModel),
        ("Sweep axis range", "an axis of a sweep file written as a range", AxisRangeModel),
        ("Sweep filter grid", "`filters` of a sweep file written as a grid", FilterGridModel),
        ("Simulation options", "`hipct simulate` (command-line options)", SimulateOptions),
        ("Reconstruction parameters", "what `hipct reconstruct` passes to the pipeline "
                                      "(Python: `hipct.reconstruction.pipeline.ReconParams`)",
         ReconParamsModel),
    ]


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def reference_markdown() -> str:
    """The reference page: one table per schema, every field of it and of its nested
    mappings."""
    from hipct.fields import field_rows

    out = [_INTRO]
    for title, what, model in sections():
        doc = " ".join(model.__doc__.split()).replace("``", "`")
        out.append(f"## {title}\n\n{what}. {doc}\n")
        out.append("| field | type | unit | allowed | default | description |")
        out.append("|---|---|---|---|---|---|")
        for row in field_rows(model):
            path, *rest = row
            out.append("| " + " | ".join([f"`{path}`", *map(_cell, rest)]) + " |")
        out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    """Print the reference page (``--markdown``, the default)."""
    p = argparse.ArgumentParser(prog="python -m hipct.schema_doc",
                                description="print the field reference of hipct's input "
                                            "files (Markdown)")
    p.add_argument("--markdown", action="store_true", help="Markdown (the default)")
    p.parse_args(argv)
    sys.stdout.write(reference_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
