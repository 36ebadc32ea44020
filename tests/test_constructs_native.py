"""Constructs of Vensim and XMILE models run natively by the ensemble engine,
each on a model of its own against values known in closed form (issue 17:
conformance that holds on models outside the shared suite)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SDREV_CACHE_DIR", str(tmp_path / "cache"))


def _xmile(variables: str, dimensions: str = "") -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">
    <header><vendor>sdrev tests</vendor><product version="1">t</product></header>
    <sim_specs method="Euler" time_units="Months">
        <start>0</start><stop>4</stop><dt>1</dt>
    </sim_specs>
    <dimensions>{dimensions}</dimensions>
    <model><variables>
{variables}
    </variables></model>
</xmile>
"""


def test_xmile_one_argument_min_and_max_reduce_every_element(tmp_path):
    """XMILE's MIN(x[Dim]) and MAX(x[*]) of one argument are the extreme over
    the array's elements (PySD's vmin_xmile), in a scalar and in a
    subscripted equation."""
    import sdrev.ensemble as ens

    path = tmp_path / "minmax.xmile"
    dims = '<dim name="Dim"><elem name="a"/><elem name="b"/><elem name="c"/></dim>'
    values = "".join(f'<element subscript="{e}"><eqn>{v}</eqn></element>'
                     for e, v in zip("abc", ("TIME - 1", "3 - TIME", "1")))
    own = '<dimensions><dim name="Dim"/></dimensions>'
    path.write_text(_xmile(
        f'<aux name="x">{own}{values}</aux>'
        '<aux name="low"><eqn>MIN(x[Dim])</eqn></aux>'
        '<aux name="high"><eqn>MAX(x[*]) * 2</eqn></aux>'
        f'<aux name="spread">{own}<eqn>x[Dim] - MIN(x[Dim])</eqn></aux>', dims))
    data = ens.run(path, None, outputs=["low", "high", "spread"], progress=False,
                   workers=1, engine="sdrev")
    assert data.attrs["engine"] == "sdrev"
    t = np.arange(5.0)
    x = np.stack([t - 1, 3 - t, np.ones(5)], axis=1)
    np.testing.assert_allclose(data["low"].values[0], x.min(axis=1))
    np.testing.assert_allclose(data["high"].values[0], 2 * x.max(axis=1))
    np.testing.assert_allclose(data["spread"].values[0], x - x.min(axis=1)[:, None])


def _mdl(equations: str, *, final: float = 4, step: float = 1) -> str:
    return ("{UTF-8}\n" + equations + f"""
FINAL TIME = {final}
\t~\tMonth\n\t~\t\t|
INITIAL TIME = 0
\t~\tMonth\n\t~\t\t|
SAVEPER = TIME STEP
\t~\tMonth\n\t~\t\t|
TIME STEP = {step}
\t~\tMonth\n\t~\t\t|
""")


#: a lookup read plainly and in the three modes, at x = -1, 1.5, 2.5, 1
_LOOKUP_MODES = """
LOOK(
\t(0,1),(1,1),(2,2))
\t~\t\n\t~\t\t|
x = IF THEN ELSE(Time = 0, -1, IF THEN ELSE(Time = 1, 1.5, IF THEN ELSE(Time = 2, 2.5, 1)))
\t~\t\n\t~\t\t|
plain = LOOK(x)
\t~\t\n\t~\t\t|
ext = LOOKUP EXTRAPOLATE(LOOK, x)
\t~\t\n\t~\t\t|
fwd = LOOKUP FORWARD(LOOK, x)
\t~\t\n\t~\t\t|
bwd = LOOKUP BACKWARD(LOOK, x)
\t~\t\n\t~\t\t|
"""


def test_lookup_extrapolate_forward_and_backward_follow_vensims_examples(tmp_path):
    """The reference manual's examples: LOOK((0,1),(1,1),(2,2)) at -1, 1.5 and
    2.5 is 1, 1.5, 2.5 extrapolated; 1, 2, 2 forward; 1, 1, 2 backward; the
    plain lookup holds its end values (1, 1.5, 2). A subscripted table reads
    each element's own table in the same modes."""
    import sdrev.ensemble as ens

    scalar = _LOOKUP_MODES
    subscripted = """
sub:
\tlow, high
\t~\t\n\t~\t\t|
tab[low](
\t(0,1),(1,1),(2,2))
\t~\t\n\t~\t\t|
tab[high](
\t(0,10),(1,20),(2,0))
\t~\t\n\t~\t\t|
ext sub[sub] = LOOKUP EXTRAPOLATE(tab[sub], x)
\t~\t\n\t~\t\t|
fwd sub[sub] = LOOKUP FORWARD(tab[sub], x)
\t~\t\n\t~\t\t|
bwd sub[sub] = LOOKUP BACKWARD(tab[sub], x)
\t~\t\n\t~\t\t|
"""
    path = tmp_path / "modes.mdl"
    path.write_text(_mdl(scalar + subscripted, final=3))
    names = ["plain", "ext", "fwd", "bwd", "ext_sub", "fwd_sub", "bwd_sub"]
    data = ens.run(path, None, outputs=names, progress=False, workers=1,
                   engine="sdrev")
    got = {n: data[n].values[0] for n in names}
    # x = -1, 1.5, 2.5, 1
    np.testing.assert_allclose(got["plain"], [1, 1.5, 2, 1])
    np.testing.assert_allclose(got["ext"], [1, 1.5, 2.5, 1])
    np.testing.assert_allclose(got["fwd"], [1, 2, 2, 1])
    np.testing.assert_allclose(got["bwd"], [1, 1, 2, 1])
    np.testing.assert_allclose(got["ext_sub"][:, 0], got["ext"])
    np.testing.assert_allclose(got["ext_sub"][:, 1], [0, 10, -10, 20])
    np.testing.assert_allclose(got["fwd_sub"][:, 1], [10, 0, 0, 20])
    np.testing.assert_allclose(got["bwd_sub"][:, 1], [10, 20, 0, 20])


@pytest.mark.slow
def test_lookup_modes_on_the_compiled_kernel(tmp_path):
    """The compiled kernel (scalar models) reads the tables in the same
    modes (compiles a kernel in a fresh cache)."""
    import sdrev.ensemble as ens

    alone = tmp_path / "modes_scalar.mdl"
    alone.write_text(_mdl(_LOOKUP_MODES, final=3))
    names = ["plain", "ext", "fwd", "bwd"]
    fast = ens.run(alone, None, outputs=names, progress=False, workers=1,
                   engine="sdrev", jit=True)
    assert fast.attrs["kernel"] == 1
    expected = {"plain": [1, 1.5, 2, 1], "ext": [1, 1.5, 2.5, 1],
                "fwd": [1, 2, 2, 1], "bwd": [1, 1, 2, 1]}
    for name in names:
        np.testing.assert_array_equal(fast[name].values[0], expected[name])



def test_npv_discounts_the_stream_as_vensims_equations(tmp_path):
    """NPV(stream, rate, init, factor): with a constant stream c the value
    after k steps is factor * (init + c dt sum_{j<=k} q^j), q = 1/(1 + rate dt)
    (the manual's df integrated by Euler), one value per element when
    subscripted."""
    import sdrev.ensemble as ens

    path = tmp_path / "npv.mdl"
    path.write_text(_mdl("""
d:
\ta, b
\t~\t\n\t~\t\t|
flow[d] = 3, 5
\t~\t\n\t~\t\t|
value = NPV(3, 0.1, 7, 2)
\t~\t\n\t~\t\t|
values[d] = NPV(flow[d], 0.1, 0, 1)
\t~\t\n\t~\t\t|
""", final=5, step=0.5))
    data = ens.run(path, None, outputs=["value", "values"], progress=False,
                   workers=1, engine="sdrev")
    assert data.attrs["engine"] == "sdrev"
    dt, q = 0.5, 1 / (1 + 0.1 * 0.5)
    k = np.arange(11)
    discounted = dt * (1 - q ** (k + 1)) / (1 - q)  # dt * sum_{j<=k} q^j
    np.testing.assert_allclose(data["value"].values[0], 2 * (7 + 3 * discounted))
    np.testing.assert_allclose(data["values"].values[0],
                               np.outer(discounted, [3, 5]))


def test_xmile_previous_is_the_value_one_step_earlier(tmp_path):
    """PREVIOUS(x, init) (XMILE 1.0): init at the start, then x's value one
    DT earlier; a variable may read its own previous value (a counter), and
    an arrayed PREVIOUS keeps one value per element."""
    import sdrev.ensemble as ens

    path = tmp_path / "previous.xmile"
    dims = '<dim name="Dim"><elem name="a"/><elem name="b"/></dim>'
    own = '<dimensions><dim name="Dim"/></dimensions>'
    path.write_text(_xmile(
        '<aux name="x"><eqn>TIME * TIME</eqn></aux>'
        '<aux name="last"><eqn>PREVIOUS(x, -1)</eqn></aux>'
        '<aux name="count"><eqn>PREVIOUS(count, 0) + 1</eqn></aux>'
        f'<aux name="y">{own}<element subscript="a"><eqn>TIME</eqn></element>'
        '<element subscript="b"><eqn>10 - TIME</eqn></element></aux>'
        f'<aux name="ylast">{own}<eqn>PREVIOUS(y[Dim], 7)</eqn></aux>', dims))
    data = ens.run(path, None, outputs=["last", "count", "ylast"], progress=False,
                   workers=1, engine="sdrev")
    assert data.attrs["engine"] == "sdrev"
    np.testing.assert_array_equal(data["last"].values[0], [-1, 0, 1, 4, 9])
    np.testing.assert_array_equal(data["count"].values[0], [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(data["ylast"].values[0],
                                  [[7, 7], [0, 10], [1, 9], [2, 8], [3, 7]])


def test_xmile_arrays_indexed_dimension_mean_size_and_apply_to_all(tmp_path):
    """XMILE 1.0 arrays PySD's reader or the engine did not run: an indexed
    dimension (``size="3"``: elements 1..3, its name a number in equations),
    MEAN and SIZE over an array, and an array named without subscripts in an
    apply-to-all equation over its own dimension (element by element)."""
    import sdrev.ensemble as ens

    path = tmp_path / "arrays.xmile"
    dims = ('<dim name="D"><elem name="a"/><elem name="b"/><elem name="c"/></dim>'
            '<dim name="N" size="3"/>')
    over_d = '<dimensions><dim name="D"/></dimensions>'
    path.write_text(_xmile(
        f'<aux name="v">{over_d}<element subscript="a"><eqn>TIME</eqn></element>'
        '<element subscript="b"><eqn>2</eqn></element>'
        '<element subscript="c"><eqn>6 - 3 * TIME</eqn></element></aux>'
        '<aux name="w"><dimensions><dim name="N"/></dimensions><eqn>N * TIME</eqn></aux>'
        '<aux name="total"><eqn>SUM(w[*])</eqn></aux>'
        '<aux name="average"><eqn>MEAN(v[*])</eqn></aux>'
        '<aux name="count"><eqn>SIZE(v[*]) + SIZE(w[*])</eqn></aux>'
        f'<stock name="s">{over_d}<eqn>1</eqn><inflow>g</inflow></stock>'
        f'<flow name="g">{over_d}<eqn>v * 2</eqn></flow>', dims))
    names = ["w", "total", "average", "count", "s"]
    data = ens.run(path, None, outputs=names, progress=False, workers=1,
                   engine="sdrev")
    assert data.attrs["engine"] == "sdrev"
    t = np.arange(5.0)
    np.testing.assert_allclose(data["w"].values[0], np.outer(t, [1, 2, 3]))
    np.testing.assert_allclose(data["total"].values[0], 6 * t)
    np.testing.assert_allclose(data["average"].values[0], (8 - 2 * t) / 3)
    np.testing.assert_allclose(data["count"].values[0], np.full(5, 6.0))
    # s = 1 + 2 * sum of v over the earlier steps (Euler, DT 1)
    v = np.stack([t, np.full(5, 2.0), 6 - 3 * t], axis=1)
    expected = 1 + 2 * np.vstack([np.zeros(3), np.cumsum(v, axis=0)[:-1]])
    np.testing.assert_allclose(data["s"].values[0], expected)


def test_xmile_if_expressions_anywhere_an_expression_may_stand(tmp_path):
    """XMILE's IF c THEN a ELSE b as an else-if chain, nested in a THEN
    branch, inside arithmetic and as a function's argument (PySD's grammar
    parsed none of these); names that merely contain IF are left alone."""
    import sdrev.ensemble as ens
    from sdrev.xmile import rewrite_if

    path = tmp_path / "ifs.xmile"
    path.write_text(_xmile(
        '<aux name="if_rate"><eqn>0.5</eqn></aux>'
        '<aux name="chain"><eqn>IF TIME &gt; 3 THEN 2 ELSE IF TIME &gt; 1 THEN 1 ELSE 0</eqn></aux>'
        '<aux name="nested"><eqn>IF TIME &gt; 1 THEN IF TIME &gt; 3 THEN 20 ELSE 10 ELSE 0</eqn></aux>'
        '<aux name="total"><eqn>1 + IF TIME &gt; 2 THEN if_rate ELSE 0 * 5</eqn></aux>'
        '<aux name="arg"><eqn>MAX(IF TIME &lt; 2 THEN -1 ELSE TIME, 0.5)</eqn></aux>'))
    names = ["chain", "nested", "total", "arg"]
    data = ens.run(path, None, outputs=names, progress=False, workers=1,
                   engine="sdrev")
    np.testing.assert_array_equal(data["chain"].values[0], [0, 0, 1, 1, 2])
    np.testing.assert_array_equal(data["nested"].values[0], [0, 0, 10, 10, 20])
    # the ELSE branch reaches to the end: 1 + (IF ... ELSE (0 * 5))
    np.testing.assert_array_equal(data["total"].values[0], [1, 1, 1, 1.5, 1.5])
    np.testing.assert_array_equal(data["arg"].values[0], [0.5, 0.5, 2, 3, 4])
    assert rewrite_if('IF_rate + "IF x" * if_then') == 'IF_rate + "IF x" * if_then'
    assert rewrite_if("IF(a > 1, 2, 3)") == "IF(a > 1, 2, 3)"


@pytest.mark.parametrize("jit", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_control_variables_defined_through_constants_run_natively(tmp_path, jit):
    """INITIAL TIME named by a constant and FINAL TIME through it: equations
    constant in time that read them are computed once per chunk from the
    names that chunk knows (a NameError before: they read INITIAL TIME,
    which only the time step defined)."""
    import sdrev.ensemble as ens

    path = tmp_path / "control.mdl"
    path.write_text("""{UTF-8}
start year = 2000
\t~\t~\t|
horizon = 4
\t~\t~\t|
x = INTEG(1, INITIAL TIME)
\t~\t~\t|
y = Time - INITIAL TIME + FINAL TIME * 2
\t~\t~\t|
FINAL TIME = INITIAL TIME + horizon
\t~\tYear\n\t~\t|
INITIAL TIME = start year
\t~\tYear\n\t~\t|
SAVEPER = TIME STEP * 2
\t~\tYear\n\t~\t|
TIME STEP = 0.5
\t~\tYear\n\t~\t|
""")
    data = ens.run(path, None, outputs=["x", "y"], progress=False, workers=1,
                   engine="sdrev", jit=jit)
    t = np.arange(2000.0, 2005.0)
    np.testing.assert_array_equal(data["time"].values, t)
    np.testing.assert_array_equal(data["x"].values[0], t)
    np.testing.assert_array_equal(data["y"].values[0], t - 2000 + 2 * 2004)
