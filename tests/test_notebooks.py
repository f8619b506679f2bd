"""The notebooks run top to bottom (CI executes them; they are the user-facing walkthroughs),
print no warnings, and every matplotlib figure they make passes the figure style check."""

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))

#: run first: keep pyplot figures open after display so the last cell can check them
_KEEP = 'get_ipython().run_line_magic("config", "InlineBackend.close_figures = False")'
#: run last: every Figure made (open in pyplot, or held in a variable, list or dict)
_CHECK = '''
import matplotlib.pyplot as _plt
from matplotlib.figure import Figure as _Figure
from hipct.figure_style import figure_problems as _problems
_found = {id(_plt.figure(n)): _plt.figure(n) for n in _plt.get_fignums()}
for _v in list(globals().values()):
    _items = _v.values() if isinstance(_v, dict) else _v if isinstance(_v, (list, tuple)) else [_v]
    for _f in _items:
        if isinstance(_f, _Figure):
            _found[id(_f)] = _f
_bad = {n: p for n, p in ((n, _problems(f)) for n, f in enumerate(_found.values())) if p}
assert not _bad, _bad
print(len(_found), "figures checked")
'''


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(_KEEP))
    nb.cells.append(nbformat.v4.new_code_cell(_CHECK))
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    warned = [o["text"] for o in outputs if o.get("name") == "stderr" and "Warning" in o["text"]]
    assert not warned
    checked = outputs[-1]["text"]
    assert checked.endswith("figures checked\n") and int(checked.split()[0]) >= 1
    shown = sum("image/png" in o.get("data", {}) for o in outputs)
    assert shown >= int(checked.split()[0])                 # every figure made is also shown


def test_there_are_four_notebooks():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04"]
