"""The web viewer behind ``backprop ui`` (docs/viewer.md): a Starlette app with a JSON API under
``/api/``, server-rendered pages, live updates by server-sent events, and vendored static files.

Importing this package pulls in Starlette and Jinja2, so only the ``ui`` command path does.
"""

from __future__ import annotations

from backprop_core.viewer.app import create_app

__all__ = ["create_app"]
