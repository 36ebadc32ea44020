"""Serving the explorer: a Panel (Bokeh) server on one address.

The server binds to ``127.0.0.1`` unless told otherwise, accepts websocket
connections only from pages it served itself (Bokeh's origin check), and
builds a fresh :class:`ExploreSession` for each browser session.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from sdrev.errors import InvalidValueError

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "free_port", "make_server", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5006


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _origins(host: str, port: int) -> list[str]:
    if host in ("0.0.0.0", "::", ""):
        return [f"*:{port}"]  # every address of the machine, as asked
    names = {host}
    if host in ("127.0.0.1", "localhost", "::1"):
        names |= {"127.0.0.1", "localhost"}
    return [f"[{n}]:{port}" if ":" in n else f"{n}:{port}" for n in sorted(names)]


def make_server(explorer, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT):
    """A Bokeh server for ``explorer``, not started.

    Parameters
    ----------
    explorer : Explorer
    host : str
        Address to bind (default 127.0.0.1, this machine only).
    port : int
        TCP port; 0 picks a free one.

    Returns
    -------
    (server, url)
    """
    import panel as pn

    from sdrev.explore.app import ExploreSession

    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidValueError(f"port must be an integer from 0 to 65535, got {port!r}")
    try:
        port = port or free_port(host)
    except OSError as exc:
        raise InvalidValueError(f"cannot serve on {host!r}: {exc.strerror or exc}") from None

    def page():
        return ExploreSession(explorer, pn.state.session_args).layout

    title = f"sdrev explore: {explorer.model.name}"
    try:
        server = pn.serve({"/": page}, address=host, port=port, show=False, start=False,
                          title=title, websocket_origin=_origins(host, port),
                          threaded=False, verbose=False)
    except OSError as exc:
        raise InvalidValueError(f"cannot serve on {host}:{port}: {exc.strerror or exc}"
                                ) from None
    shown = f"[{host}]" if ":" in host else host
    return server, f"http://{shown}:{port}/"


def serve(model, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          posterior: str | Path | None = None, band_runs: int = 2000) -> None:
    """Serve the explorer of ``model`` until interrupted (Ctrl-C).

    Parameters
    ----------
    model : Model, str or Path
    host : str
        Address to bind (default 127.0.0.1).
    port : int
        TCP port (default 5006; 0 picks a free one).
    posterior : str or Path, optional
        A ``sdrev calibrate`` run folder whose draws give the uncertainty band.
    band_runs : int
        Runs behind the uncertainty band.
    """
    from sdrev.explore.explorer import Explorer

    explorer = Explorer(model, posterior=posterior, band_runs=band_runs)
    explorer.baseline()  # compile and run once before the first page asks
    server, url = make_server(explorer, host=host, port=port)
    server.start()
    print(f"sdrev explore: serving {explorer.model.name} at {url} (Ctrl-C to stop)",
          flush=True)
    try:
        server.io_loop.start()
    finally:
        server.stop()
        sys.stdout.flush()
