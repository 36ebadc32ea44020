"""The ensemble engine's generated code can be read: tracebacks through it show its
lines, and every hoisted value says which model variables it comes from."""

from __future__ import annotations

import linecache
import re
import traceback
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def sir_simulator():
    from sdrev.ensemble.codegen import build_simulator
    from sdrev.ensemble.compile import compile_model

    return build_simulator(compile_model(FIXTURES / "sir.mdl"), ["infection"])


class _Constants(dict):
    """Every constant 1.0 except those given."""

    def __missing__(self, key):
        return 1.0


def test_traceback_through_generated_code_shows_the_line(sir_simulator):
    from sdrev.ensemble.codegen import source_name

    sim = sir_simulator
    linecache.checkcache()  # what traceback printing does must not drop the entry
    with pytest.raises(TypeError) as info:
        sim.prepare(_Constants({"contact_rate": "not a number"}))
    frame = traceback.extract_tb(info.value.__traceback__)[-1]
    assert frame.filename == source_name(sim.source, model="sir.mdl")
    assert frame.name == "prepare"
    assert frame.line == sim.source.splitlines()[frame.lineno - 1].strip()
    assert frame.line.startswith("_h0 = v_contact_rate * v_infectivity")
    printed = "".join(traceback.format_exception(info.value))
    assert f'line {frame.lineno}, in prepare\n    {frame.line}\n' in printed


def test_generated_source_name_is_stable_and_unique(sir_simulator):
    from sdrev.ensemble.codegen import build_simulator, source_name
    from sdrev.ensemble.compile import compile_model

    program = compile_model(FIXTURES / "sir.mdl")
    again = build_simulator(program, ["infection"])
    other = build_simulator(program, ["infection", "recovery"])
    assert again.step.__code__.co_filename == sir_simulator.step.__code__.co_filename
    assert other.step.__code__.co_filename != sir_simulator.step.__code__.co_filename
    assert other.step.__code__.co_filename == source_name(other.source, model="sir.mdl")


def test_hoisted_values_name_the_variables_they_come_from(sir_simulator):
    lines = sir_simulator.source.splitlines()
    hoisted = [line.strip() for line in lines if re.match(r"\s+_h\d+ = ", line)]
    # computed in prepare, read in step: both lines carry the comment
    assert hoisted == ["_h0 = v_contact_rate * v_infectivity  # from 'Infection' (infection)",
                       "_h0 = C['_h0']  # from 'Infection' (infection)"]


def test_hoisted_value_of_a_stock_update_names_the_stock():
    from sdrev.ensemble.codegen import build_simulator
    from sdrev.ensemble.compile import compile_model

    program = compile_model(FIXTURES / "ishigami.mdl")
    sim = build_simulator(program, ["accumulated_output"])
    comments = {line.split("#", 1)[1].strip() for line in sim.source.splitlines()
                if re.match(r"\s+_h\d+ = ", line)}
    assert comments == {"from 'Accumulated Output' (accumulated_output)"}


def test_kernel_source_names_the_hoisted_expression(sir_simulator):
    from sdrev.ensemble.kernelgen import kernel_source

    source = kernel_source(sir_simulator, {}, {})[0]
    reads = [line.strip() for line in source.splitlines() if line.strip().startswith("_h0 =")]
    assert reads == ["_h0 = W[0 * B + j]  # _h0 = v_contact_rate * v_infectivity"]
