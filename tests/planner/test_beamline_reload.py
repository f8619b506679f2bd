"""A beamline file is read again once it has changed; an unchanged one is parsed once."""

import os
from importlib import resources

from hipct.beamlines import load_beamline


def test_an_edited_beamline_file_is_read_again(tmp_path):
    text = resources.files("hipct.beamlines").joinpath("bm18.yaml").read_text()
    path = tmp_path / "lab.yaml"
    path.write_text(text.replace("name: BM18", "name: LAB-A"))
    first = load_beamline(str(path))
    assert first.name == "LAB-A"
    assert load_beamline(str(path)) is first            # unchanged: the parsed object is reused
    before = path.stat().st_mtime_ns
    path.write_text(text.replace("name: BM18", "name: LAB-BB"))
    os.utime(path, ns=(before + 10**9, before + 10**9))  # a coarse clock still sees the edit
    assert load_beamline(str(path)).name == "LAB-BB"


def test_a_replaced_beamline_file_is_read_again(tmp_path):
    text = resources.files("hipct.beamlines").joinpath("bm18.yaml").read_text()
    path = tmp_path / "lab.yaml"
    path.write_text(text.replace("name: BM18", "name: ONE"))
    assert load_beamline(str(path)).name == "ONE"
    other = tmp_path / "other.yaml"
    other.write_text(text.replace("name: BM18", "name: TWO"))
    os.replace(other, path)                              # same path, a new file (new inode)
    assert load_beamline(str(path)).name == "TWO"
