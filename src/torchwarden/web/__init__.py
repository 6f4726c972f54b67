"""``torchwarden serve``: a live, read-only web view of the machine, its runs and findings.

Needs the ``serve`` extra (``pip install 'torchwarden[serve]'``: Starlette, uvicorn,
Jinja2, prometheus_client). See README.md beside this file for how it is built.
"""

from __future__ import annotations

from torchwarden.web.app import ServeConfig as ServeConfig
from torchwarden.web.app import create_app as create_app

__all__ = ["ServeConfig", "create_app"]
