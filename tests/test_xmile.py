"""XMILE models (.xmile, .stmx): read through sdrev's translation path into the
same pipeline as Vensim files, with the same protections against hostile files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import sdrev
from sdrev.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
SUITE = Path(__file__).resolve().parents[2] / "shared" / "test-models" / "tests"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SDREV_CACHE_DIR", str(tmp_path / "cache"))


def _xmile(variables: str, *, time_units: str = "Days", stop: float = 4,
           dt: float = 1, extra_specs: str = "") -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">
    <header><vendor>sdrev tests</vendor><product version="1">t</product></header>
    <sim_specs method="Euler" time_units="{time_units}">
        <start>0</start><stop>{stop}</stop><dt>{dt}</dt>{extra_specs}
    </sim_specs>
    <model><variables>
{variables}
    </variables></model>
</xmile>
"""


def test_same_model_as_mdl_and_xmile_gives_the_same_trajectories():
    import sdrev
    import sdrev.ensemble as ens

    outputs = ["Susceptible", "Infectious", "Recovered", "Infection"]
    runs = {}
    for suffix in (".mdl", ".xmile"):
        model = sdrev.load(FIXTURES / f"sir_weeks{suffix}")
        assert model.time.saveper == 0.5 and model.time.step == 0.0625
        frame = sdrev.simulate(model)
        data = ens.run(model, None, outputs=outputs, progress=False, workers=1)
        assert data.attrs["engine"] == "sdrev"
        runs[suffix] = (frame, data)
    (f_mdl, d_mdl), (f_xml, d_xml) = runs[".mdl"], runs[".xmile"]
    assert len(f_mdl) == len(f_xml) == 121
    for name in ("susceptible", "infectious", "recovered", "infection"):
        np.testing.assert_allclose(f_xml[name], f_mdl[name], rtol=1e-12)
        np.testing.assert_allclose(d_xml[name].values, d_mdl[name].values, rtol=1e-12)
        np.testing.assert_allclose(d_xml[name].values[0], f_xml[name].values, rtol=1e-9)
    assert f_mdl["infectious"].max() > 100  # the epidemic takes off: a real run


@pytest.mark.slow
def test_every_command_runs_on_xmile_and_stmx(tmp_path, capsys):
    model = tmp_path / "sir_weeks.stmx"
    shutil.copy(FIXTURES / "sir_weeks.xmile", model)
    shutil.copy(FIXTURES / "sir_weeks.toml", tmp_path / "sir_weeks.toml")
    xmile = str(FIXTURES / "sir_weeks.xmile")
    samples = tmp_path / "samples.csv"
    samples.write_text("Infectivity\n0.2\n0.3\n")
    for path in (xmile, str(model)):
        out = tmp_path / Path(path).suffix[1:]
        assert main(["describe", path]) == 0
        assert main(["simulate", path, "--out", str(out / "sim")]) == 0
        assert main(["ensemble", path, "--samples", str(samples), "--outputs",
                     "Infectious", "--quiet", "--out", str(out / "ens")]) == 0
        assert main(["loops", path, "--json"]) == 0
        assert main(["compare", path, "--vary", "Infectivity=0.2,0.3",
                     "--outputs", "Infectious", "--out", str(out / "cmp")]) == 0
    text = capsys.readouterr().out
    assert "Duration of Illness" in text and "R1" in text


def test_unsupported_suffix_names_the_readable_ones(tmp_path, capsys):
    path = tmp_path / "model.vpm"
    path.write_text("x")
    assert main(["describe", str(path)]) == 2
    err = capsys.readouterr().err
    assert ".xmile" in err and ".stmx" in err and ".mdl" in err


def test_save_step_is_honoured(tmp_path):
    import sdrev

    path = tmp_path / "m.xmile"
    path.write_text(_xmile('<stock name="S"><eqn>1</eqn><inflow>f</inflow></stock>'
                           '<flow name="f"><eqn>S * 0.1</eqn></flow>',
                           stop=10, dt=0.25, extra_specs="<save_step>2</save_step>"))
    model = sdrev.load(path)
    assert (model.time.step, model.time.saveper) == (0.25, 2.0)
    assert list(sdrev.simulate(model).index) == [0, 2, 4, 6, 8, 10]


def test_round_rounds_halves_away_from_zero_on_both_engines(tmp_path):
    import sdrev
    import sdrev.ensemble as ens

    path = tmp_path / "round.xmile"
    path.write_text(_xmile('<aux name="x"><eqn>TIME - 2.5</eqn></aux>'
                           '<aux name="r"><eqn>ROUND(x)</eqn></aux>'
                           '<aux name="r1"><eqn>ROUND(x / 4, 1) + round(0.25, 1)</eqn></aux>'))
    frame = sdrev.simulate(sdrev.load(path))
    assert frame["r"].tolist() == [-3, -2, -1, 1, 2]
    np.testing.assert_allclose(frame["r1"], [-0.6 + 0.3, -0.4 + 0.3, -0.1 + 0.3,
                                             0.1 + 0.3, 0.4 + 0.3])
    data = ens.run(path, None, outputs=["r", "r1"], progress=False, workers=1)
    assert data.attrs["engine"] == "sdrev"
    np.testing.assert_allclose(data["r"].values[0], frame["r"])
    np.testing.assert_allclose(data["r1"].values[0], frame["r1"])


def test_rewrite_round_leaves_quoted_names_and_other_calls():
    from sdrev.xmile import rewrite_round

    assert rewrite_round('"ROUND(" + AROUND(x)') == '"ROUND(" + AROUND(x)'
    assert rewrite_round("ROUND(MAX(a, b))").count("MAX(a, b)") == 3


# -- hostile XMILE files --------------------------------------------------------

def _hostile(marker: Path) -> dict[str, str]:
    dq = f'__import__("os").system("touch {marker}")'
    sq = f"__import__('os').system('touch {marker}')"
    stock = ('<stock name="S"><eqn>1</eqn><inflow>f</inflow><units>W</units>'
             '<doc>{doc}</doc></stock><flow name="f"><eqn>S * 0.1</eqn></flow>')
    esc = (dq.replace('"', "&quot;"))
    return {
        # documentation closing PySD's docstring
        "doc_triple_double": _xmile(stock.format(doc=f"x&quot;&quot;&quot;;{esc};&quot;&quot;&quot;")),
        "doc_backslash_quote": _xmile(stock.format(
            doc=f"x\\&quot;&quot;&quot;;{esc};&quot;&quot;&quot;\\")),
        "units_quote": _xmile(stock.replace("<units>W</units>",
                                            f"<units>W';{sq};'</units>").format(doc="d")),
        # a dimension name closing its string literal
        "dimension_quote": _xmile(
            '<aux name="a"><dimensions><dim name="R"/></dimensions><eqn>1</eqn></aux>'
        ).replace("<model>", f"<dimensions><dim name=\"R'+str({esc})+'\">"
                  "<elem name=\"n\"/><elem name=\"s\"/></dim></dimensions><model>"
                  ).replace('<dim name="R"/>', f"<dim name=\"R'+str({esc})+'\"/>"),
    }


@pytest.fixture()
def hostile(tmp_path):
    marker = tmp_path / "MARKER"
    folder = tmp_path / "models"
    folder.mkdir()
    paths = {}
    for name, text in _hostile(marker).items():
        paths[name] = folder / f"{name}.xmile"
        paths[name].write_text(text, encoding="utf-8")
    return marker, paths


def test_xmile_docstring_breakout_is_real_without_sdrevs_defences(hostile, monkeypatch):
    from sdrev import translate
    from sdrev.model import load

    marker, paths = hostile
    monkeypatch.setattr(translate, "sanitize", lambda model, on_file=None: model)
    monkeypatch.setattr(translate, "audit_source", lambda source, name: None)
    # the payload is in the stock's body, which PySD's generated module runs
    sdrev.simulate(load(paths["doc_triple_double"]), engine="pysd")
    assert marker.exists(), "the payload did not run: the case tests nothing"


def test_no_hostile_xmile_runs_code_in_any_command(hostile, tmp_path, capsys):
    marker, paths = hostile
    samples = tmp_path / "samples.csv"
    samples.write_text("a\n1\n2\n")
    for name, path in paths.items():
        for attempt in (1, 2):  # the second call reuses the cached translation
            for args in (["describe", str(path)],
                         ["simulate", str(path), "--out",
                          str(tmp_path / "runs" / f"{name}-{attempt}")]):
                code = main(args)
                err = capsys.readouterr().err
                assert code in (0, 2), err
                assert "Traceback" not in err
            assert not marker.exists(), f"{name} ran code (attempt {attempt})"
    assert main(["describe", str(paths["doc_triple_double"])]) == 0
    assert "\u201d\u201d\u201d;__import__(\u201dos\u201d)" in capsys.readouterr().out


def test_external_entities_are_not_read(tmp_path, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    text = _xmile('<aux name="a"><doc>&leak;</doc><eqn>1</eqn></aux>').replace(
        "<xmile ", f'<!DOCTYPE xmile [<!ENTITY leak SYSTEM "file://{secret}">]>\n<xmile ', 1)
    path = tmp_path / "xxe.xmile"
    path.write_text(text)
    main(["describe", str(path)])
    captured = capsys.readouterr()
    assert "TOPSECRET" not in captured.out + captured.err


def test_not_xmile_is_one_line_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.xmile"
    path.write_text("<model><variables/></model>")
    assert main(["describe", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sdrev: error:") and "<xmile>" in err and err.count("\n") == 1


# -- conformance --------------------------------------------------------------

@pytest.mark.skipif(not (SUITE / "abs").is_dir(), reason="shared test models absent")
def test_conformance_covers_xmile_and_stmx(tmp_path):
    from sdrev.ensemble.conformance import check_folder

    shutil.copytree(SUITE / "abs", tmp_path / "abs")
    results = check_folder(tmp_path, rtol=1e-3)
    assert sorted(r.model for r in results) == [
        "abs/test_abs.mdl", "abs/test_abs.stmx", "abs/test_abs.xmile"]
    assert all(r.passed and r.engine == "sdrev" for r in results)


def test_expression_macros_are_expanded(tmp_path):
    import sdrev
    import sdrev.ensemble as ens

    path = tmp_path / "macros.xmile"
    path.write_text(_xmile(
        '<aux name="a"><eqn>TIME + 1</eqn></aux>'
        '<aux name="b"><eqn>DOUBLE(a) + Scaled_Sum(a, 3) + Scaled Sum(1)</eqn></aux>'
        '<stock name="s"><eqn>0</eqn><inflow>f</inflow></stock>'
        '<flow name="f"><eqn>DOUBLE(DOUBLE(s + 1))</eqn></flow>').replace(
        "</xmile>",
        '<macro name="DOUBLE"><parm>x</parm><eqn>x * 2</eqn></macro>'
        '<macro name="Scaled Sum"><parm>first value</parm><parm default="10">k</parm>'
        '<eqn>(first_value + k) * DOUBLE(k)</eqn></macro></xmile>'))
    frame = sdrev.simulate(sdrev.load(path))
    a = np.arange(5) + 1.0
    np.testing.assert_allclose(frame["b"], 2 * a + (a + 3) * 6 + 11 * 20)
    assert frame["s"].tolist() == [0, 4, 24, 124, 624]  # s + 4 (s + 1)
    data = ens.run(path, None, outputs=["b", "s"], progress=False, workers=1)
    assert data.attrs["engine"] == "sdrev"
    np.testing.assert_allclose(data["s"].values[0], frame["s"])


def test_subscripted_xmile_two_dimensions_element_equations_and_flows(tmp_path):
    import sdrev
    import sdrev.ensemble as ens

    path = tmp_path / "subs.xmile"
    rates = "".join(f'<element subscript="{r}, {a}"><eqn>{v}</eqn></element>'
                    for (r, a), v in zip(
                        [(r, a) for r in ("north", "south")
                         for a in ("young", "old", "oldest")],
                        (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)))
    two = '<dimensions><dim name="Region"/><dim name="Age"/></dimensions>'
    path.write_text(_xmile(
        f'<aux name="rate">{two}{rates}</aux>'
        f'<stock name="pop">{two}<eqn>10</eqn><inflow>growth</inflow></stock>'
        f'<flow name="growth">{two}<eqn>pop[Region, Age] * rate[Region, Age]</eqn></flow>'
        '<aux name="total"><dimensions><dim name="Region"/></dimensions>'
        '<eqn>SUM(pop[Region, *])</eqn></aux>').replace(
        "<model>", '<dimensions><dim name="Region"><elem name="north"/><elem name="south"/>'
        '</dim><dim name="Age"><elem name="young"/><elem name="old"/>'
        '<elem name="oldest"/></dim></dimensions><model>'))
    frame = sdrev.simulate(sdrev.load(path))
    expected = 10 * (1 + np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])) ** 4
    assert frame["pop[south,oldest]"].iloc[-1] == pytest.approx(expected[1, 2])
    data = ens.run(path, None, outputs=["pop", "total"], progress=False, workers=1)
    assert data.attrs["engine"] == "sdrev"
    np.testing.assert_allclose(data["pop"].values[0, -1], expected)
    np.testing.assert_allclose(data["total"].values[0, -1], expected.sum(axis=1))


def test_early_stella_layout_lookup_calls_and_special_flow_names(tmp_path):
    import sdrev
    import sdrev.ensemble as ens

    # variables straight in <model> (no <variables>), LOOKUP() of a variable
    # with its own graphical function and of a <gf>, a flow whose name holds
    # characters of expressions
    text = _xmile("").replace("<model><variables>\n\n    </variables></model>", """<model>
        <aux name="shaped"><eqn>0</eqn><gf><xpts>0,10</xpts><ypts>0,20</ypts></gf></aux>
        <gf name="table"><xpts>0,10</xpts><ypts>5,5</ypts></gf>
        <aux name="via lookup"><eqn>LOOKUP(shaped, TIME) + LOOKUP(table, 3)</eqn></aux>
        <stock name="s"><eqn>0</eqn><inflow>Flow_w/_odd,_name(1)</inflow></stock>
        <flow name="Flow w/ odd, name(1)"><eqn>via_lookup</eqn></flow>
    </model>""")
    path = tmp_path / "early.stmx"
    path.write_text(text)
    frame = sdrev.simulate(sdrev.load(path))
    assert frame["via_lookup"].tolist() == [5, 7, 9, 11, 13]  # 2 t + 5
    assert frame["s"].tolist() == [0, 5, 12, 21, 32]
    data = ens.run(path, None, outputs=["s"], progress=False, workers=1)
    np.testing.assert_allclose(data["s"].values[0], frame["s"])


def test_subrange_dimension_and_one_dimensional_wildcard(tmp_path):
    import sdrev
    import sdrev.ensemble as ens

    path = tmp_path / "subrange.xmile"
    values = "".join(f'<element subscript="{e}"><eqn>{v}</eqn></element>'
                     for e, v in zip("nsew", (1, 2, 3, 4)))
    upper = '<dimensions><dim name="Upper"/></dimensions>'
    path.write_text(_xmile(
        f'<aux name="x"><dimensions><dim name="Region"/></dimensions>{values}</aux>'
        f'<aux name="y">{upper}<eqn>x[Upper] * 10</eqn></aux>'
        f'<stock name="pop">{upper}<eqn>y[Upper]</eqn><inflow>grow</inflow></stock>'
        f'<flow name="grow">{upper}<eqn>x[Upper]</eqn></flow>'
        '<aux name="total"><eqn>SUM(pop[*])</eqn></aux>').replace(
        "<model>", '<dimensions><dim name="Region">' + "".join(
            f'<elem name="{e}"/>' for e in "nsew") + '</dim><dim name="Upper">'
        '<elem name="n"/><elem name="e"/></dim></dimensions><model>'))
    frame = sdrev.simulate(sdrev.load(path))
    assert frame["total"].tolist() == [40, 44, 48, 52, 56]  # (10 + t) + (30 + 3 t)
    data = ens.run(path, None, outputs=["pop", "total"], progress=False, workers=1)
    assert data.attrs["engine"] == "sdrev"
    np.testing.assert_allclose(data["total"].values[0], frame["total"])
    np.testing.assert_allclose(data["pop"].values[0, -1], [14, 42])


def test_run_spec_names_pi_log10_and_mod(tmp_path):
    import sdrev
    import sdrev.ensemble as ens

    path = tmp_path / "builtins.xmile"
    path.write_text(_xmile(
        '<aux name="v"><eqn>DT + STARTTIME + STOPTIME + LOG10(1000) + (TIME MOD 2)'
        ' + PI - pi</eqn></aux>', dt=0.5, extra_specs="<save_step>1</save_step>"))
    frame = sdrev.simulate(sdrev.load(path))
    # 0.5 + 0 + 4 + 3 + (t mod 2)
    assert frame["v"].tolist() == pytest.approx([7.5, 8.5, 7.5, 8.5, 7.5])
    data = ens.run(path, None, outputs=["v"], progress=False, workers=1)
    assert data.attrs["engine"] == "sdrev"
    np.testing.assert_allclose(data["v"].values[0], frame["v"])


def test_a_model_variable_named_dt_keeps_its_own_value(tmp_path):
    import sdrev

    path = tmp_path / "own_dt.xmile"
    path.write_text(_xmile('<aux name="dt"><eqn>7</eqn></aux>'
                           '<aux name="v"><eqn>dt + TIME</eqn></aux>'))
    assert sdrev.simulate(sdrev.load(path))["v"].tolist() == [7, 8, 9, 10, 11]


def test_int_is_the_floor_as_xmile_defines_it(tmp_path):
    import sdrev
    import sdrev.ensemble as ens

    path = tmp_path / "int.xmile"
    path.write_text(_xmile('<aux name="x"><eqn>TIME - 2.5</eqn></aux>'
                           '<aux name="v"><eqn>INT(x) + INT(-TIME) + int(INT(x) / 2)</eqn></aux>'))
    frame = sdrev.simulate(sdrev.load(path))
    x = np.arange(5) - 2.5
    expected = np.floor(x) + np.floor(-np.arange(5)) + np.floor(np.floor(x) / 2)
    np.testing.assert_array_equal(frame["v"], expected)
    data = ens.run(path, None, outputs=["v"], progress=False, workers=1)
    assert data.attrs["engine"] == "sdrev"
    np.testing.assert_array_equal(data["v"].values[0], expected)
