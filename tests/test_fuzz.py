"""Fuzzing the readers of untrusted input: random bytes and mutated real
models as ``.mdl`` files, random samples files and mutated or binary ranges
specs must each give a result
or one line and exit code 2 (never an internal error), within a time bound.
Examples are derandomised so that CI runs the same cases every time."""

from __future__ import annotations

from pathlib import Path

import hypothesis
import pytest
from hypothesis import strategies as st

from sdrev.cli import main

#: Characters that matter to Vensim's grammar and to Python's string literals.
_VENSIM = "~|[]()\"'\\:=,{}<>*/+-^!.;&% \t\n\x00\u2028" + "abcxyzINTEGLOOKUP0123456789"
_FUZZ_SECONDS = 30
#: Real models to mutate: scalar, with lookups and a subscripted one.
_SEEDS = [Path(__file__).parent / "fixtures" / "widgets.mdl",
          Path(__file__).parent / "fixtures" / "sir.mdl",
          Path(__file__).parents[1] / "models" / "mne_reverse_knowledge.mdl"]


class _Hang(Exception):
    pass


def _bounded(seconds):
    """Fail an example that runs longer than ``seconds`` (a hang)."""
    import contextlib
    import signal as sig

    @contextlib.contextmanager
    def bound():
        def alarm(signum, frame):
            raise _Hang(f"no answer within {seconds} s")
        previous = sig.signal(sig.SIGALRM, alarm)
        sig.setitimer(sig.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            sig.setitimer(sig.ITIMER_REAL, 0)
            sig.signal(sig.SIGALRM, previous)
    return bound()


def _describe_is_clean(tmp_path, data: bytes, capsys, *, samples=False, spec=False):
    """``sdrev describe`` on ``data`` (or ``sdrev ensemble`` with ``data`` as
    its samples file or ranges spec) gives a result or one line and exit 2."""
    import warnings

    path = tmp_path / ("samples.csv" if samples else "spec.toml" if spec else "fuzz.mdl")
    path.write_bytes(data)
    fixtures = Path(__file__).parent / "fixtures"
    if samples:
        args = ["ensemble", str(fixtures / "widgets.mdl"), "--samples", str(path),
                "--outputs", "Stock A"]
    elif spec:
        args = ["ensemble", str(fixtures / "ishigami.mdl"), "--sample", "lhs:4",
                "--ranges", str(path), "--outputs", "Ishigami Output"]
    else:
        args = ["describe", str(path)]
    if samples or spec:
        args += ["--quiet", "--format", "parquet", "--out", str(tmp_path / "out")]
    with warnings.catch_warnings(), _bounded(_FUZZ_SECONDS):
        warnings.simplefilter("ignore")  # as users run it: warnings are not errors
        code = main(args)
    err = capsys.readouterr().err
    assert code in (0, 2), err
    if code == 2:
        assert err.startswith("sdrev: error: ") and err.count("\n") == 1, err


@st.composite
def _mutated_model(draw):
    source = draw(st.sampled_from(_SEEDS))
    text = source.read_text(encoding="utf-8")
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "duplicate", "replace"]))
        if kind == "insert":
            text = text[:at] + draw(st.text(alphabet=_VENSIM, max_size=12)) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)):]
        elif kind == "duplicate":
            text = text[:at] + text[at:at + draw(st.integers(1, 200))] + text[at:]
        else:
            text = text[:at] + draw(st.sampled_from(["\"", "'", "\\", "|", "~", "["])) + text[at + 1:]
    return text.encode("utf-8", errors="surrogatepass")


_FUZZ = hypothesis.settings(max_examples=60, deadline=None, derandomize=True,
                            database=None,
                            suppress_health_check=list(hypothesis.HealthCheck))


@pytest.mark.slow
@_FUZZ
@hypothesis.given(data=st.binary(max_size=3000))
def test_fuzz_random_bytes_give_a_result_or_one_line(tmp_path_factory, data):
    _describe_is_clean_with_capture(tmp_path_factory, data)


@pytest.mark.slow
@hypothesis.settings(_FUZZ, max_examples=40)  # real models take longer
@hypothesis.given(data=_mutated_model())
def test_fuzz_mutated_models_give_a_result_or_one_line(tmp_path_factory, data):
    _describe_is_clean_with_capture(tmp_path_factory, data)


@st.composite
def _samples_file(draw):
    columns = draw(st.lists(st.sampled_from(
        ["Rate", "Cap", "FINAL TIME", "TIME STEP", "SAVEPER", "rate", "Nope", ""]),
        min_size=0, max_size=3))
    cell = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                     st.text(alphabet="0123456789.eE+-nainf,\"' ", max_size=8))
    rows = draw(st.lists(st.lists(cell, min_size=0, max_size=4), max_size=4))
    text = "\n".join([",".join(columns)] + [",".join(r) for r in rows])
    return draw(st.sampled_from([text.encode(), text.encode() + draw(st.binary(max_size=20))]))


@pytest.mark.slow
@_FUZZ
@hypothesis.given(data=_samples_file())
def test_fuzz_samples_files_give_a_result_or_one_line(tmp_path_factory, data):
    _describe_is_clean_with_capture(tmp_path_factory, data, samples=True)


_SPEC_ALPHABET = "[]{}=,\"'.-+0123456789e \n#abcXuniformnormalrangenamedistribution"


@st.composite
def _mutated_spec(draw):
    text = (Path(__file__).parent / "fixtures" / "ishigami_sensitivity.toml").read_text(
        encoding="utf-8")
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "duplicate"]))
        if kind == "insert":
            text = text[:at] + draw(st.text(alphabet=_SPEC_ALPHABET, max_size=15)) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 30)):]
        else:
            text = text[:at] + text[at:at + draw(st.integers(1, 80))] + text[at:]
    return text.encode("utf-8")


@pytest.mark.slow
@_FUZZ
@hypothesis.given(data=st.one_of(_mutated_spec(), st.binary(max_size=200)))
def test_fuzz_ranges_specs_give_a_result_or_one_line(tmp_path_factory, data):
    _describe_is_clean_with_capture(tmp_path_factory, data, spec=True)


def _describe_is_clean_with_capture(tmp_path_factory, data, *, samples=False, spec=False):
    import contextlib
    import io

    folder = tmp_path_factory.mktemp("fuzz")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        _describe_is_clean(folder, data, _Capture(err), samples=samples, spec=spec)


class _Capture:
    """The part of pytest's ``capsys`` that :func:`_describe_is_clean` uses."""

    def __init__(self, err):
        self.err = err

    def readouterr(self):
        class Out:
            pass
        out = Out()
        out.err = self.err.getvalue()
        return out


_FORMS = ("'{}'", "r'{}'", "'''{}'''", "\"{}\"", "r\"{}\"", "\"\"\"{}\"\"\"", "f'{}'")


@hypothesis.settings(max_examples=500, deadline=None, derandomize=True, database=None)
@hypothesis.given(text=st.text(), multiline=st.booleans())
def test_cleaned_text_stays_inside_any_python_string_literal(text, multiline):
    import ast

    from sdrev.sanitize import clean_text

    cleaned = clean_text(text, multiline=multiline)
    quoted_name = not multiline and len(text) > 1 and text[0] == text[-1] == '"'
    body = cleaned[1:-1] if quoted_name else cleaned
    assert not set(body) & {"'", '"', "\\"}
    forms = [f for f in _FORMS if not (quoted_name and '"' in f)]
    if multiline:
        forms = [f for f in forms if f.count("'") == 6 or f.count('"') == 6]
    else:
        assert "\n" not in cleaned and "\r" not in cleaned
    for form in forms:
        if form.startswith("f") and ("{" in cleaned or "}" in cleaned):
            continue  # PySD writes no f-strings; braces are not ours to escape
        node = ast.parse(form.format(cleaned), mode="eval").body
        assert isinstance(node, (ast.Constant, ast.JoinedStr)), form
        if isinstance(node, ast.Constant):
            assert node.value == cleaned, form
