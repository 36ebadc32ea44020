"""runs.write_csv: large numeric tables through pyarrow, read back as pandas writes them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.csv
import pytest

from sdrev.runs import write_csv


def _numbers(rows: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.random((rows, 6)) * np.logspace(-12, 12, 6),
                         columns=["a", "b, with comma", 'c "quoted"', "d: metric", "e", "f"])
    frame.iloc[2, 1] = np.nan
    frame.iloc[3, 2] = np.inf
    frame.iloc[4, 3] = -0.0
    frame["count"] = np.arange(rows, dtype=np.int64)
    return frame


@pytest.fixture()
def arrow_calls(monkeypatch):
    calls = []
    original = pyarrow.csv.write_csv

    def recording(*args, **kwargs):
        calls.append(args[0].num_rows)
        return original(*args, **kwargs)

    monkeypatch.setattr(pyarrow.csv, "write_csv", recording)
    return calls


@pytest.mark.parametrize("index_label", ["run", None])
def test_numbers_go_through_pyarrow_and_read_back_as_pandas_writes_them(
        tmp_path, arrow_calls, index_label):
    frame = _numbers()
    write_csv(frame, tmp_path / "fast.csv", index_label=index_label)
    frame.to_csv(tmp_path / "pandas.csv", index=index_label is not None,
                 index_label=index_label)
    assert arrow_calls == [len(frame)]
    fast, slow = (tmp_path / "fast.csv").read_text(), (tmp_path / "pandas.csv").read_text()
    assert fast.splitlines()[0] == slow.splitlines()[0]  # the same header, quoting included
    assert len(fast.splitlines()) == len(slow.splitlines())
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "fast.csv"),
                                  pd.read_csv(tmp_path / "pandas.csv"), check_exact=True)


@pytest.mark.parametrize("extra", [{"label": ["x", "y", "z"]}, {"settled": [True, False, True]}])
def test_text_and_booleans_are_written_by_pandas(tmp_path, arrow_calls, extra):
    frame = pd.DataFrame({"value": [0.1, 1e-7, 3.0], **extra})
    write_csv(frame, tmp_path / "t.csv")
    frame.to_csv(tmp_path / "p.csv", index=False)
    assert arrow_calls == []
    assert (tmp_path / "t.csv").read_bytes() == (tmp_path / "p.csv").read_bytes()
