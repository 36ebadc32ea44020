"""Bayesian posterior by emcee's affine-invariant ensemble sampler.

Each step of emcee's stretch move updates one half of the walkers against
the other; with ``vectorize=True`` it evaluates each half in one call of the
log posterior, which is one batch of the ensemble engine
(:meth:`sdrev.calibrate.likelihood.Problem.log_posterior`): two model batches
per step. Diagnostics, as Foreman-Mackey et al. (2013) and Vehtari et al.
(2021) advise: the integrated autocorrelation time of each parameter, the
effective sample size it implies, and the potential scale reduction R-hat
between the two halves of the walkers (split in time as well).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import warnings
from dataclasses import dataclass

import numpy as np

from sdrev.calibrate.likelihood import Problem

__all__ = ["McmcFit", "fit", "initial_walkers", "split_rhat"]

log = logging.getLogger("sdrev.calibrate")

#: A chain counts as converged when it is this many autocorrelation times
#: long after burn-in (emcee's documentation suggests 50) and R-hat is below
#: :data:`RHAT_MAX` (Vehtari et al. 2021 suggest 1.01 for final results; we
#: flag above 1.05 as "not converged" and report the value).
TAU_FACTOR = 50
RHAT_MAX = 1.05
#: Fewest completed steps an interrupted chain must have to be summarised.
MIN_STEPS = 20


@dataclass(frozen=True)
class McmcFit:
    """An MCMC run.

    Attributes
    ----------
    draws : ndarray, shape (draws, parameters)
        Posterior draws after burn-in and thinning.
    log_posterior, log_likelihood : ndarray, shape (draws,)
    chain : ndarray, shape (steps, walkers, parameters)
        The whole chain (for trace plots).
    burn, thin : int
    tau, ess, rhat : ndarray, shape (parameters,)
    acceptance : float
        Mean acceptance fraction.
    converged : bool
    warnings : tuple of str
    """

    draws: np.ndarray
    log_posterior: np.ndarray
    log_likelihood: np.ndarray
    chain: np.ndarray
    burn: int
    thin: int
    tau: np.ndarray
    ess: np.ndarray
    rhat: np.ndarray
    acceptance: float
    converged: bool
    warnings: tuple[str, ...]


def split_rhat(chains: np.ndarray) -> np.ndarray:
    """Split R-hat of each parameter (Gelman et al. 2013, BDA3 section 11.4).

    Parameters
    ----------
    chains : ndarray, shape (chains, draws, parameters)
        Each chain is split in two halves in time before comparing.
    """
    m, n, _ = chains.shape
    half = n // 2
    parts = np.concatenate([chains[:, :half], chains[:, half:2 * half]], axis=0)
    means = parts.mean(axis=1)
    within = parts.var(axis=1, ddof=1).mean(axis=0)
    between = half * means.var(axis=0, ddof=1)
    var = (half - 1) / half * within + between / half
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(np.where(within > 0, var / within, np.nan))


def initial_walkers(problem: Problem, walkers: int, rng: np.random.Generator,
                    *, tries: int = 50) -> np.ndarray:
    """Walkers drawn from the prior, redrawn where the posterior is zero."""
    ndim = len(problem.labels)
    start = np.column_stack([d.rvs(size=walkers, random_state=rng) for d in problem.priors]
                            ).reshape(walkers, ndim)
    lp = problem.log_posterior(start)
    for _ in range(tries):
        bad = ~np.isfinite(lp)
        if not bad.any():
            return start
        fresh = np.column_stack([d.rvs(size=int(bad.sum()), random_state=rng)
                                 for d in problem.priors]).reshape(-1, ndim)
        start[bad] = fresh
        lp[bad] = problem.log_posterior(fresh)
    from sdrev.errors import InvalidValueError
    raise InvalidValueError(
        f"no parameter set drawn from the priors gives a finite likelihood ({tries * walkers} "
        "tried): the observations are impossible under the model and these ranges; widen the "
        "ranges or check the data's variables, times and units")


@contextlib.contextmanager
def _stop_on_interrupt():
    """An event set by the first Ctrl-C (SIGINT) while sampling; a second one
    interrupts at once. Outside the main thread, Ctrl-C interrupts as usual."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def fit(problem: Problem, *, walkers: int, steps: int, seed: int,
        progress: bool = True) -> McmcFit:
    """Sample the posterior of ``problem``.

    Parameters
    ----------
    problem : Problem
    walkers : int
        Even, at least twice the number of parameters plus two.
    steps : int
        Steps per walker; the first half is discarded as burn-in.
    seed : int
    progress : bool, optional
        Show emcee's progress bar.
    """
    import emcee

    rng = np.random.default_rng(seed)
    ndim = len(problem.labels)
    start = initial_walkers(problem, walkers, rng)
    sampler = emcee.EnsembleSampler(walkers, ndim, problem.log_posterior, vectorize=True)
    sampler.random_state = np.random.RandomState(seed).get_state()  # emcee's stream, seeded
    interrupted = None
    with _stop_on_interrupt() as stop:
        # Ctrl-C ends the chain after the current step: what was sampled is
        # summarised and written, not lost
        for _ in sampler.sample(start, iterations=steps, progress=progress,
                                progress_kwargs={"desc": "calibrate (mcmc)", "unit": "step"}):
            if stop.is_set() and sampler.iteration >= MIN_STEPS:
                break
    if sampler.iteration < steps:
        interrupted = f"interrupted after {sampler.iteration} of {steps} steps"
        steps = sampler.iteration
    burn = steps // 2
    emcee_log = logging.getLogger("emcee")
    level = emcee_log.level
    emcee_log.setLevel(logging.ERROR)  # its short-chain note: reported below, in our words
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tau = np.atleast_1d(sampler.get_autocorr_time(discard=burn, quiet=True))
    finally:
        emcee_log.setLevel(level)
    thin = max(1, int(np.nanmin(tau) / 2)) if np.all(np.isfinite(tau)) else 1
    chain = sampler.get_chain()
    draws = sampler.get_chain(discard=burn, thin=thin, flat=True)
    lp = sampler.get_log_prob(discard=burn, thin=thin, flat=True)
    kept = chain[burn:]                                   # (steps, walkers, ndim)
    ess = kept.shape[0] * walkers / tau
    halves = np.stack([kept[:, : walkers // 2].transpose(1, 0, 2).reshape(-1, ndim),
                       kept[:, walkers // 2:].transpose(1, 0, 2).reshape(-1, ndim)])
    rhat = split_rhat(halves)
    notes = [interrupted] if interrupted else []
    long_enough = kept.shape[0] >= TAU_FACTOR * np.nanmax(tau)
    if not long_enough:
        notes.append(f"the chain after burn-in ({kept.shape[0]} steps) is shorter than "
                     f"{TAU_FACTOR} autocorrelation times (max tau {np.nanmax(tau):.0f}); "
                     "run more steps (-N) before trusting the intervals")
    if np.any(~(rhat < RHAT_MAX)):
        worst = int(np.nanargmax(np.where(np.isnan(rhat), np.inf, rhat)))
        notes.append(f"R-hat of {problem.labels[worst]} is {rhat[worst]:.3f} (above "
                     f"{RHAT_MAX}): the walker halves disagree; run more steps")
    acceptance = float(np.mean(sampler.acceptance_fraction))
    if acceptance < 0.1:
        notes.append(f"mean acceptance fraction {acceptance:.2f} is low")
    for note in notes:
        log.info("calibration has not converged: %s", note)
    lp_prior = problem.log_prior(draws)
    return McmcFit(draws=draws, log_posterior=lp, log_likelihood=lp - lp_prior, chain=chain,
                   burn=burn, thin=thin, tau=tau, ess=ess, rhat=rhat, acceptance=acceptance,
                   converged=not notes, warnings=tuple(notes))
