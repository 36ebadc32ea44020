"""Installed versions of packages, read from the names of their ``.dist-info`` folders.

:mod:`importlib.metadata` answers the same question but takes tens of
milliseconds to import (it parses e-mail style headers). A run's manifest
records seven versions and sdrev's caches are keyed by PySD's, so
``sdrev simulate`` reads the folder names (``pysd-3.14.3.dist-info``) on
``sys.path`` instead, in ``sys.path`` order as :mod:`importlib.metadata`
does, and asks :mod:`importlib.metadata` only about a package whose folder
does not say (an egg, another layout).
"""

from __future__ import annotations

import functools
import os
import re
import sys

__all__ = ["version"]

_SUFFIX = ".dist-info"


def _normal(name: str) -> str:
    """A distribution name as wheels write it in folder names (PEP 503, ``_``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


@functools.cache
def _dist_info_versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in sorted(names):
            if name.endswith(_SUFFIX):
                project, dash, number = name[:-len(_SUFFIX)].partition("-")
                if dash and number:
                    found.setdefault(_normal(project), number)
    return found


def version(name: str) -> str | None:
    """The installed version of the distribution ``name``, or ``None``.

    Parameters
    ----------
    name : str
        A distribution name (``"pysd"``, ``"SALib"``); case, ``-``, ``_``
        and ``.`` do not matter.

    Examples
    --------
    >>> from sdrev.versions import version
    >>> version("numpy") is not None
    True
    """
    found = _dist_info_versions().get(_normal(name))
    if found:
        return found
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
