"""sdrev's cache folder: private, authenticated, optional.

Everything sdrev caches is code it will run (PySD's translations, compiled
ensemble programs, numba's machine code), so the cache is trusted only for
what this user's sdrev wrote into it:

* folders are created ``0700`` (an existing cache root owned by the user is
  tightened to ``0700``);
* entries carry an HMAC-SHA256 under a per-user key, kept ``0600`` in the
  cache root (:func:`seal` / :func:`unseal` for single files,
  :func:`tree_mac` for folders); an entry that fails the check is rebuilt,
  never loaded, and sdrev says so once on stderr;
* when the cache cannot be written (``$SDREV_CACHE_DIR`` under a file,
  read-only), sdrev runs without it, in a private temporary folder removed
  at exit, and says so once.
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import hmac
import os
import secrets
import shutil
import stat
import sys
import tempfile
import threading
from pathlib import Path

__all__ = [
    "FOLDERS",
    "KEY_NAME",
    "cache_root",
    "files_mac",
    "note_once",
    "private_dir",
    "seal",
    "seal_holds",
    "tree_mac",
    "unseal",
    "usable_root",
    "write_seal",
]

#: File name of the per-user key in the cache root.
KEY_NAME = "hmac.key"
#: Folders of the cache root: PySD translations, compiled ensemble programs,
#: numba kernels.
FOLDERS = ("translations", "programs", "kernels")
_MAGIC = b"sdrev-sealed-1\n"
_LOCK = threading.Lock()
_NOTED: set[str] = set()
_STATE: dict = {}


def cache_root() -> Path:
    """Folder holding sdrev's cache.

    ``$SDREV_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/sdrev``, else
    ``~/.cache/sdrev``.
    """
    if env := os.environ.get("SDREV_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sdrev"


def note_once(message: str) -> None:
    """Print ``sdrev: message`` on stderr, once per process."""
    with _LOCK:
        if message in _NOTED:
            return
        _NOTED.add(message)
    print(f"sdrev: {message}", file=sys.stderr, flush=True)


def _tighten(path: Path) -> None:
    info = path.lstat()
    if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and \
            stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)


def _prepare(root: Path) -> bytes:
    """Create ``root`` (0700) and its key; return the key."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(root)
    key_path = root / KEY_NAME
    for _ in range(3):
        try:
            info = key_path.lstat()
        except FileNotFoundError:
            tmp = root / f".{KEY_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(32))
            try:
                os.link(tmp, key_path)  # atomic; fails if another wrote one
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
            continue
        if (not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid()
                or stat.S_IMODE(info.st_mode) & 0o077 or info.st_size != 32):
            # readable by others, not ours, or not a key: replace it (every
            # entry signed with the old key is rebuilt)
            note_once(f"replacing the cache key {key_path} (wrong owner, "
                      "permissions or size)")
            key_path.unlink()
            continue
        return key_path.read_bytes()
    raise OSError(f"cannot create the cache key {key_path}")


def usable_root() -> tuple[Path, bytes]:
    """The cache root and its key, or a private temporary stand-in.

    Returns
    -------
    root : Path
        ``cache_root()`` if it can be written; otherwise a temporary folder
        (0700) used for this process only and removed at exit (sdrev says
        so once).
    key : bytes
        The HMAC key of ``root``.
    """
    root = cache_root()
    with _LOCK:
        cached = _STATE.get(root)
        if cached is not None:
            return cached
    try:
        result = (root, _prepare(root))
        for sub in FOLDERS:
            folder = private_dir(root / sub)
            if not folder.is_dir() or folder.is_symlink():
                raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(folder))
            probe = folder / f".probe-{os.getpid()}-{secrets.token_hex(4)}"
            probe.mkdir(mode=0o700)
            probe.rmdir()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        note_once(f"cannot use the cache folder {root} ({reason}); running "
                  "without a cache (set SDREV_CACHE_DIR to a writable folder)")
        temp = Path(tempfile.mkdtemp(prefix="sdrev-cache-"))
        atexit.register(shutil.rmtree, temp, ignore_errors=True)
        result = (temp, _prepare(temp))
    with _LOCK:
        _STATE[root] = result
    return result


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents ``0700``; return it."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
    _tighten(path)
    return path


def _mac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def seal(data: bytes, key: bytes) -> bytes:
    """``data`` with a header authenticating it under ``key``."""
    return _MAGIC + _mac(key, data) + data


def unseal(blob: bytes, key: bytes) -> bytes | None:
    """The data of a sealed blob, or ``None`` if it fails the check."""
    head = len(_MAGIC)
    if not blob.startswith(_MAGIC) or len(blob) < head + 32:
        return None
    tag, data = blob[head:head + 32], blob[head + 32:]
    return data if hmac.compare_digest(tag, _mac(key, data)) else None


def tree_mac(folder: Path, key: bytes, *, skip: frozenset = frozenset()) -> str:
    """HMAC (hex) of every regular file under ``folder``, names included.

    Symbolic links, ``__pycache__`` folders and names in ``skip`` are left
    out; anything else that is not a regular file or folder makes the MAC
    differ from any a build writes.
    """
    folder = Path(folder)
    files = [path for path in sorted(folder.rglob("*"))
             if path.relative_to(folder).as_posix() not in skip
             and "__pycache__" not in path.parts
             and not path.is_symlink() and not path.is_dir()]
    return files_mac(folder, files, key)


def files_mac(folder: Path, files, key: bytes) -> str:
    """HMAC (hex) of ``files`` (names relative to ``folder``, and contents)."""
    mac = hmac.new(key, b"tree\0", hashlib.sha256)
    for path in files:
        rel = Path(path).relative_to(folder).as_posix()
        mac.update(rel.encode("utf-8", "surrogateescape") + b"\0")
        info = Path(path).lstat()
        if stat.S_ISREG(info.st_mode):
            data = Path(path).read_bytes()
            mac.update(len(data).to_bytes(8, "big") + data)
        else:
            mac.update(b"\xff not a file")
    return mac.hexdigest()


def seal_holds(seal: Path, folder: Path, files) -> bool:
    """Whether the seal file ``seal`` matches ``files`` (see :func:`write_seal`)."""
    try:
        stamp = Path(seal).read_text(encoding="utf-8").strip()
        return hmac.compare_digest(stamp, files_mac(folder, files, usable_root()[1]))
    except (OSError, UnicodeDecodeError):
        return False


def write_seal(seal: Path, folder: Path, files) -> None:
    """Write the seal file ``seal`` of ``files`` (names relative to ``folder``
    and contents) under the cache key; a cache that cannot be written only
    costs a rebuild next time."""
    tmp = Path(seal).with_name(f"{Path(seal).name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(files_mac(folder, files, usable_root()[1]), encoding="utf-8")
        os.replace(tmp, seal)
    except OSError:
        pass
