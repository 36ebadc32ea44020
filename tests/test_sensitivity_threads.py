"""The convergence check and time-resolved indices analysed on two threads:
the same tables as on one."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import pandas as pd

import sdrev
from sdrev.sensitivity import load_spec, run
from sdrev.sensitivity.methods import sobol

FIXTURES = Path(__file__).parent / "fixtures"


def test_two_threads_give_the_same_tables_as_one(monkeypatch):
    model = sdrev.load(FIXTURES / "ishigami.mdl")
    spec = load_spec(model, FIXTURES / "ishigami_sensitivity.toml")
    pools = []
    pool_class = concurrent.futures.ThreadPoolExecutor

    class Recording(pool_class):
        def __init__(self, workers, *args, **kwargs):
            pools.append(workers)
            super().__init__(workers, *args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ThreadPoolExecutor", Recording)
    one = run(model, spec, method="sobol", n=64, seed=3, progress=False, knockout=False,
              workers=1)
    assert pools == []
    two = run(model, spec, method="sobol", n=64, seed=3, progress=False, knockout=False,
              workers=2)
    assert pools and set(pools) == {2}
    assert len(two.time_resolved) and len(two.convergence)
    pd.testing.assert_frame_equal(one.indices, two.indices)
    pd.testing.assert_frame_equal(one.convergence, two.convergence)
    pd.testing.assert_frame_equal(one.time_resolved, two.time_resolved)
    assert one.warnings == two.warnings


def test_only_sobols_own_estimator_is_thread_safe():
    problem = {"num_vars": 2, "names": ["a", "b"], "bounds": [[0, 1], [0, 1]]}
    assert sobol.thread_safe(problem, seed=5)
    assert not sobol.thread_safe(problem, seed=0)  # SALib: numpy's global generator
    assert not sobol.thread_safe(problem, seed=5, second_order=True)
    assert not sobol.thread_safe({**problem, "groups": ["g", "g"]}, seed=5)
