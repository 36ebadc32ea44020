"""Untrusted model files and the cache: nothing a model file says runs as code.

Every case writes a marker file if its payload ever runs. The known
break-outs of PySD's code generation (a docstring closed by the model's
documentation, a raw string escaped by a data file name ending in a
backslash, a quoted subscript-range name closing its string) are first shown
to run without sdrev's defences, so that the tests below cannot pass
vacuously; then every case goes through ``describe``, ``simulate`` and
``ensemble``, twice (the second call reuses the cache), without the marker
ever appearing.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import stat
from pathlib import Path

import pytest

from sdrev import cache
from sdrev.cli import main
from sdrev.errors import ModelParseError

CONTROL = """INITIAL TIME = 0 ~ Year ~ |
FINAL TIME = 4 ~ Year ~ |
TIME STEP = 1 ~ Year ~ |
SAVEPER = TIME STEP ~ Year ~ |
"""


def _scalar(*, doc="Growth rate.", units="1/Year", name="Rate", rate="0.1"):
    return f"""{{UTF-8}}
Stock = INTEG(Inflow, 1)
\t~\tWidget
\t~\tA stock.
\t|
Inflow = {name} * Stock
\t~\tWidget/Year
\t~\tA flow.
\t|
{name} = {rate}
\t~\t{units}
\t~\t{doc}
\t|
""" + CONTROL


def _subscripted(*, range_name="Region", elements="north, south"):
    return f"""{{UTF-8}}
{range_name}: {elements}
\t~\t
\t~\t|
Stock[{range_name}] = INTEG(Inflow[{range_name}], 1)
\t~\tWidget
\t~\tA stock.
\t|
Inflow[{range_name}] = Rate * Stock[{range_name}]
\t~\tWidget/Year
\t~\tA flow.
\t|
Rate = 0.1
\t~\t1/Year
\t~\tRate.
\t|
""" + CONTROL


def _external(*, file, tab, cell="A1"):
    return f"""{{UTF-8}}
Rate = GET DIRECT CONSTANTS('{file}', '{tab}', '{cell}')
\t~\t1/Year
\t~\tRate.
\t|
Stock = INTEG(Rate * Stock, 1)
\t~\tWidget
\t~\tA stock.
\t|
""" + CONTROL


def _xmile(*, doc="Growth rate.", name="Rate", units="1/Year"):
    from xml.sax.saxutils import escape, quoteattr

    return f"""<?xml version="1.0" encoding="utf-8"?>
<xmile xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0" version="1.0">
  <header><vendor>test</vendor><product lang="en">test</product></header>
  <sim_specs method="Euler" time_units="Year">
    <start>0</start><stop>4</stop><dt>1</dt>
  </sim_specs>
  <model><variables>
    <stock name="Stock"><eqn>1</eqn><inflow>Inflow</inflow></stock>
    <flow name="Inflow"><eqn>{escape(name)} * Stock</eqn></flow>
    <aux name={quoteattr(name)}><doc>{escape(doc)}</doc><eqn>0.1</eqn>
      <units>{escape(units)}</units></aux>
  </variables></model>
</xmile>
"""


def cases(marker: Path) -> dict[str, str]:
    """Hostile model files, by name; each touches ``marker`` if it runs."""
    sh = f"touch {marker}"
    # code needing no quote at all, between a quoted name's own quotes
    chars = "+".join(f"chr({ord(c)})" for c in sh)
    bare = f"str(__import__(chr(111)+chr(115)).system({chars}))"
    dq = f'__import__("os").system("{sh}")'
    sq = f"__import__('os').system('{sh}')"
    return {
        # documentation closing PySD's docstring
        "doc_triple_double": _scalar(doc=f'x""";{dq};"""'),
        "doc_triple_single": _scalar(doc=f"x''';{sq};'''"),
        "doc_backslash_quote": _scalar(doc=f'x\\""";{dq};"""\\'),
        "doc_unicode_named_escape": _scalar(
            doc="x\\N{QUOTATION MARK}\\N{QUOTATION MARK}\\N{QUOTATION MARK};" + dq),
        "doc_unicode_escape": _scalar(doc=f"x\\u0022\\u0022\\u0022;{dq};\\u0022"),
        "doc_control_characters": _scalar(doc=f"x\x0b\x0c\x1c\u2028{dq}\x85"),
        "units_quote": _scalar(units=f"Year';{sq};'"),
        "units_backslash": _scalar(units=f"Year\\';{sq};'"),
        # names: quotes inside quoted Vensim names
        "name_single_quote": _scalar(name=f"\"Rate')+{sq}+('\""),
        "name_backslash": _scalar(name='"Rate\\\\"'),
        "quoted_name_bare_code": _scalar(name=f'"+{bare}+"'),
        "range_name_bare_code": _subscripted(range_name=f'"+{bare}+"'),
        "range_name_quote": _subscripted(
            range_name=f"\"R'+str({sq})+'\""),
        "range_name_double_quote": _subscripted(
            range_name=f"\"R\\\"+str({sq})+\\\"\""),
        "element_name_quote": _subscripted(
            elements=f"north, \"south'+str({sq})+'\""),
        # data file, tab and cell names pasted into (raw) string literals
        "data_file_backslash": _external(file="x\\\\", tab=f",{dq})#"),
        "data_tab_backslash": _external(file="x.csv", tab="t\\\\", cell=f",{dq})#"),
        "data_file_quote": _external(file=f"x.csv\",{dq})#", tab="t"),
        # the same through the XMILE reader
        "xmile_doc_triple_double": _xmile(doc=f'x""";{dq};"""'),
        "xmile_doc_backslash_quote": _xmile(doc=f'x\\""";{dq};"""\\'),
        "xmile_units_quote": _xmile(units=f"Year';{sq};'"),
        "xmile_name_quote": _xmile(name=f"Rate')+{sq}+('"),
    }


#: Cases that run their payload on PySD's unguarded translation.
BREAKOUTS = ("doc_triple_double", "doc_backslash_quote", "range_name_quote",
             "data_file_backslash", "data_tab_backslash", "xmile_doc_triple_double",
             "xmile_doc_backslash_quote")


@pytest.fixture()
def hostile(tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("SDREV_CACHE_DIR", str(cache_dir))
    marker = tmp_path / "MARKER"
    folder = tmp_path / "models"
    folder.mkdir()
    paths = {}
    for name, text in cases(marker).items():
        paths[name] = folder / f"{name}.{'xmile' if name.startswith('xmile') else 'mdl'}"
        paths[name].write_text(text, encoding="utf-8")
    return marker, paths


def _load(path):
    from sdrev.model import load

    try:
        load(path)
    except ModelParseError:
        pass


@pytest.mark.parametrize("name", BREAKOUTS)
def test_breakouts_are_real_without_sdrevs_defences(hostile, monkeypatch, name):
    from sdrev import translate

    marker, paths = hostile
    monkeypatch.setattr(translate, "sanitize", lambda model, on_file=None: model)
    monkeypatch.setattr(translate, "audit_source", lambda source, name: None)
    _load(paths[name])
    assert marker.exists(), "the payload did not run: the case tests nothing"


@pytest.mark.parametrize("name", BREAKOUTS)
def test_audit_alone_refuses_each_breakout(hostile, monkeypatch, name):
    from sdrev import translate

    marker, paths = hostile
    monkeypatch.setattr(translate, "sanitize", lambda model, on_file=None: model)
    with pytest.raises(ModelParseError, match="refusing|cannot build"):
        from sdrev.model import load
        load(paths[name])
    assert not marker.exists()


def _cli(args, capsys):
    code = main(args)
    err = capsys.readouterr().err
    assert code in (0, 2), err
    assert "Traceback" not in err and "internal error" not in err
    if code == 2:
        assert err.startswith("sdrev: error:") and err.count("\n") == 1, err
    return code


def test_no_case_runs_code_in_any_command_or_from_the_cache(hostile, tmp_path, capsys):
    marker, paths = hostile
    samples = tmp_path / "samples.csv"
    samples.write_text("Rate\n0.1\n0.2\n")
    outcomes = {}
    for name, path in paths.items():
        for attempt in (1, 2):  # the second call reuses the cached translation
            codes = [_cli(["describe", str(path)], capsys)]
            codes.append(_cli(["simulate", str(path), "--out",
                               str(tmp_path / "runs" / f"{name}-{attempt}")], capsys))
            codes.append(_cli(["ensemble", str(path), "--samples", str(samples),
                               "--outputs", "Stock", "--quiet", "--format", "parquet", "--out",
                               str(tmp_path / "ens" / f"{name}-{attempt}")], capsys))
            assert not marker.exists(), f"{name} ran code (attempt {attempt})"
            outcomes[name, attempt] = codes
    # text-only attacks leave a working model: its text is cleaned, not lost
    for name in ("doc_triple_double", "doc_triple_single", "units_quote",
                 "name_single_quote", "range_name_quote", "element_name_quote"):
        assert outcomes[name, 1][:2] == [0, 0], name
    for name in paths:  # the cached call ends as the first did
        assert outcomes[name, 2] == outcomes[name, 1], name


def test_cleaned_documentation_is_still_shown(hostile, capsys):
    marker, paths = hostile
    assert main(["describe", str(paths["doc_triple_double"])]) == 0
    out = capsys.readouterr().out
    assert "\u201d\u201d\u201d;__import__(\u201dos\u201d)" in out
    assert not marker.exists()


def test_ensemble_code_generation_refuses_foreign_names(tmp_path, monkeypatch):
    from sdrev.ensemble.codegen import build_simulator
    from sdrev.ensemble.compile import compile_model
    from sdrev.ensemble.program import Equation

    monkeypatch.setenv("SDREV_CACHE_DIR", str(tmp_path / "cache"))
    marker = tmp_path / "MARKER"
    path = tmp_path / "m.mdl"
    path.write_text(_scalar(), encoding="utf-8")
    program = compile_model(path, cache=False)
    build_simulator(program, ["stock"])  # the genuine program builds
    for expr in (f"__import__('os').system('touch {marker}')",
                 f"np.__class__ or fn.os.system('touch {marker}')",
                 f"(lambda: open('{marker}', 'w'))()"):
        step = dict(program.step)
        step["inflow"] = Equation((), expr, frozenset())
        tampered = dataclasses.replace(program, step=step)
        with pytest.raises(ModelParseError, match="refusing"):
            build_simulator(tampered, ["stock", "inflow"])
    assert not marker.exists()


# -- the cache ---------------------------------------------------------------


def test_cache_folders_and_key_are_private(tmp_path, monkeypatch, widgets_path):
    from sdrev import translate

    root = tmp_path / "cache"
    monkeypatch.setenv("SDREV_CACHE_DIR", str(root))
    translation = translate.translate(widgets_path)
    from sdrev.ensemble.compile import compile_model
    compile_model(widgets_path)
    for folder in (root, root / "translations", root / "programs",
                   translation.py_path.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE((root / cache.KEY_NAME).stat().st_mode) == 0o600


def test_planted_pickle_in_program_cache_does_not_run(tmp_path, monkeypatch,
                                                      widgets_path, capsys):
    from sdrev.ensemble.compile import compile_model

    monkeypatch.setenv("SDREV_CACHE_DIR", str(tmp_path / "cache"))
    marker = tmp_path / "MARKER"
    compile_model(widgets_path)
    (entry,) = (tmp_path / "cache" / "programs").glob("*.pkl")

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    entry.write_bytes(pickle.dumps(Payload()))
    program = compile_model(widgets_path)
    assert not marker.exists()
    assert program.path == widgets_path.resolve()
    assert "failed its integrity check; rebuilt" in capsys.readouterr().err
    # the rebuilt entry is sealed again and loads
    assert compile_model(widgets_path).names == program.names


def test_tampered_translation_is_rebuilt_not_loaded(tmp_path, monkeypatch,
                                                    widgets_path, capsys):
    from sdrev import translate
    from sdrev.model import load

    monkeypatch.setenv("SDREV_CACHE_DIR", str(tmp_path / "cache"))
    marker = tmp_path / "MARKER"
    first = translate.translate(widgets_path)
    source = first.py_path.read_text(encoding="utf-8")
    first.py_path.write_text(
        source + f"\n__import__('os').system('touch {marker}')\n", encoding="utf-8")
    second = translate.translate(widgets_path)
    assert second.py_path == first.py_path
    assert second.py_path.read_text(encoding="utf-8") == source
    assert "failed its integrity check; rebuilt" in capsys.readouterr().err
    # a byte-code file planted beside the translation is never used either
    pycache = first.py_path.parent / "__pycache__"
    pycache.mkdir()
    (pycache / f"{first.py_path.stem}.cpython-311.pyc").write_bytes(b"junk")
    load(widgets_path)
    assert not marker.exists()


def test_identical_models_in_two_folders_read_their_own_data(tmp_path, monkeypatch):
    from sdrev.model import load

    monkeypatch.setenv("SDREV_CACHE_DIR", str(tmp_path / "cache"))
    text = _external(file="rate.csv", tab=",", cell="B1")
    values = {}
    for folder, rate in (("a", "0.25"), ("b", "0.75")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "m.mdl").write_text(text, encoding="utf-8")
        (tmp_path / folder / "rate.csv").write_text(f"rate,{rate}\n", encoding="utf-8")
    for folder in ("a", "b", "a"):
        model = load(tmp_path / folder / "m.mdl")
        values.setdefault(folder, set()).add(model.parameter("Rate").value)
    assert values == {"a": {0.25}, "b": {0.75}}
    # new data beside the same model: a new entry, the new value
    (tmp_path / "a" / "rate.csv").write_text("rate,0.5\n", encoding="utf-8")
    assert load(tmp_path / "a" / "m.mdl").parameter("Rate").value == 0.5


_KERNEL_RUN = """
import sys
import sdrev.ensemble as ens
data = ens.run(sys.argv[1], ens.sample_lhs({"Rate": (0.5, 1.5)}, 300, seed=1),
               outputs=["Stock A"], jit=True, progress=False)
print(float(data["stock_a"].sum()))
"""


@pytest.mark.slow
def test_planted_numba_cache_does_not_run(tmp_path, widgets_path):
    import subprocess
    import sys

    env = {**os.environ, "SDREV_CACHE_DIR": str(tmp_path / "cache")}
    marker = tmp_path / "MARKER"

    def run():
        return subprocess.run([sys.executable, "-c", _KERNEL_RUN, str(widgets_path)],
                              env=env, capture_output=True, text=True, timeout=300,
                              check=False)

    first = run()
    assert first.returncode == 0, first.stderr
    kernels = tmp_path / "cache" / "kernels"
    assert stat.S_IMODE((kernels / "__pycache__").stat().st_mode) == 0o700
    (index,) = (kernels / "__pycache__").glob("*.nbi")
    assert list(kernels.glob("*.seal"))

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    index.write_bytes(pickle.dumps(Payload()))
    second = run()
    assert second.returncode == 0, second.stderr
    assert not marker.exists()
    assert "numba cache" in second.stderr and "rebuilt" in second.stderr
    assert second.stdout == first.stdout
    third = run()  # resealed: loads quietly
    assert third.returncode == 0 and "rebuilt" not in third.stderr
