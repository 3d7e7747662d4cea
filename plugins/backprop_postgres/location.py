"""The store's URL: checked (no password in it), and remembered in the home.

The URL is a setting, and settings are recorded with every run, so a password must come from
where libpq looks for one (``~/.pgpass``, ``PGPASSWORD``, a service file), never from the URL.
The home remembers which team stores it has used (``team-stores.txt``, URLs only), so that
``gc`` run with another store still knows that the run folders of their runs are not orphans.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from backprop_core import ConfigError

#: In the home: one URL per line of every PostgreSQL store used with it.
REMEMBERED = "team-stores.txt"
SCHEMES = ("postgresql", "postgres")


def check_url(url: str) -> str:
    """``url`` if it is a PostgreSQL URL without a password; ``ConfigError`` (exit 2) if not."""
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None or "password" in parse_qs(parts.query)
    except ValueError as exc:
        raise ConfigError(
            f"the store URL {url!r} cannot be read ({exc})",
            hint="write it as postgresql://USER@HOST:PORT/DATABASE",
        ) from None
    if parts.scheme.lower() not in SCHEMES:
        raise ConfigError(
            f"the store URL {url!r} is not a postgresql:// URL",
            hint="write it as postgresql://USER@HOST:PORT/DATABASE",
        )
    if has_password:
        raise ConfigError(
            "the store URL carries a password, which would be recorded with every run's settings",
            hint="remove it from the URL and put it in ~/.pgpass (or PGPASSWORD, or a "
            "service file) instead",
        )
    return url


def remember(home: Path, url: str) -> None:
    """Note in ``home`` that ``url`` is used with it (once; best effort)."""
    known = remembered(home)
    if known is None or url in known:
        return
    with contextlib.suppress(OSError):
        fd = os.open(home / REMEMBERED, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(url + "\n")


def remembered(home: Path) -> list[str] | None:
    """The URLs of the PostgreSQL stores used with ``home``, oldest first; ``None`` when the
    list exists but cannot be read."""
    try:
        text = (home / REMEMBERED).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError):
        return None
    return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


def across_databases(
    home: Path, bound: str | None, read: Callable[[str], set[str] | None]
) -> set[str] | None:
    """The union of ``read(url)`` over every database used with ``home`` and the one the store
    class is ``bound`` to. A union larger than needed only keeps more; a list or a database
    that cannot be read makes the answer ``None``, so ``gc`` deletes nothing on its account."""
    urls = remembered(home)
    if urls is None:
        return None
    if bound is not None and bound not in urls:
        urls.append(bound)
    found: set[str] = set()
    for url in urls:
        some = read(url)
        if some is None:
            return None
        found |= some
    return found
