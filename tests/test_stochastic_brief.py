"""A brief of a model with RANDOM functions says so and counts the noise in
its uncertainty: each parameter set is also one noise realisation (stream
of the set's index, seed 0, the same under every scenario), so the bands and
outcome ranges are those of the runs with their own noise, not of one
shared realisation; the page states the seed and that the bands include
the noise.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pytest

import sdrev
import sdrev.ensemble as ens
from sdrev.report import brief as brief_mod

FIXTURES = Path(__file__).parent / "fixtures"
NOISY = FIXTURES / "noisy_loops.mdl"
SETS = 40


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SDREV_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield brief_mod.build_brief(str(NOISY), sensitivity=False, loops=False,
                                    regime_map=False, discover=False, uncertainty_n=SETS)


def _final_ranges(model, samples, scenario, index):
    frame = samples.copy()
    for key, value in model.scenarios[scenario].params.items():
        frame[key] = value
    frame.index = index
    data = ens.run(model, frame, outputs=["Population"], seed=0, progress=False, workers=1)
    final = data["population"].values[:, -1]
    return np.quantile(final, [0.05, 0.5, 0.95])


@pytest.mark.slow
def test_brief_uncertainty_includes_each_sets_noise(built):
    unc = built.uncertainty
    assert built.noise and unc.noise_seed == 0
    model = built.model
    row = unc.result.outcomes
    row = row[row["output"] == "Population"].iloc[0]
    scenario = next(s for s, label in unc.labels.items() if label == row["scenario"])
    own = _final_ranges(model, unc.samples, scenario, unc.samples.index)
    np.testing.assert_allclose([row["lower"], row["median"], row["upper"]], own, rtol=1e-12)
    # one shared realisation for every set gives other ranges: the noise counts
    shared = _final_ranges(model, unc.samples, scenario, np.zeros(SETS, dtype=int))
    assert not np.allclose(shared, own, rtol=1e-6)


@pytest.mark.slow
def test_brief_page_states_the_noise_and_its_seed(built):
    page = html.unescape(re.sub(r"<[^>]+>", " ", brief_mod.render_html(built)))
    text = " ".join(page.split())
    assert (f"each of the {SETS} sets is also one realisation of its noise: set i draws "
            "stream i of seed 0") in text
    assert "include the noise as well as the parameters' uncertainty" in text
    assert "Random numbers the model draws random numbers" in text
    assert "seed 0), the same under every scenario: bands and ranges include the noise" \
        in text


def test_a_model_without_random_functions_has_no_noise_statement():
    from sdrev.ensemble.stochastic import model_has_noise
    from sdrev.report.brief.uncertainty import BriefUncertainty, noise_statement

    assert not model_has_noise(sdrev.load(str(FIXTURES / "sir.mdl")).path)
    quiet = BriefUncertainty(result=None, factors=(), posterior=False, source="")
    assert noise_statement(quiet) == ""
    assert model_has_noise(NOISY)


def test_a_noisy_model_without_ranges_gets_the_noise_as_its_uncertainty(tmp_path):
    """No documented range to sample: the uncertainty section still runs, over
    realisations of the noise alone (run i draws stream i of seed 0), and says so."""
    import pandas as pd

    text = (FIXTURES / "noisy_share.mdl").read_text()
    path = tmp_path / "share.mdl"
    path.write_text(text.replace("Dmnl [0, 1]", "Dmnl").replace("Dmnl [0, 2]", "Dmnl"))
    model = sdrev.load(path)
    assert not [p for p in model.parameters if p.range is not None]
    b = brief_mod.build_brief(model, sensitivity=False, loops=False, regime_map=False,
                              discover=False, uncertainty_n=SETS)
    unc = b.uncertainty
    assert unc is not None and unc.noise_only and unc.factors == ()
    assert unc.sets == SETS and unc.noise_seed == 0
    data = ens.run(model, pd.DataFrame(index=range(SETS)), outputs=["Output"], seed=0,
                   progress=False, workers=1)
    finals = np.asarray(data["output"].values, dtype=float)[:, -1]
    assert np.std(finals) > 0.5  # the runs differ in their noise alone
    row = unc.outcome("Output", b.comparison.runs[0].label)
    lo, mid, hi = np.nanquantile(finals, [0.05, 0.5, 0.95])
    assert (row["lower"], row["median"], row["upper"]) == pytest.approx((lo, mid, hi))
    page = html.unescape(" ".join(re.sub(r"<[^>]+>", " ", brief_mod.render_html(b)).split()))
    assert f"over {SETS} realisations of the model's noise" in page
    assert "its noise is the uncertainty shown" in page
    assert "Uncertainty analysis left out" not in page
