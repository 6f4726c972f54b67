"""The IPython/Jupyter extension: which name, output or traceback pins which tensor.

``%load_ext torchwarden`` reports after each cell what the kernel newly holds, and
``%tw`` shows and releases it (see ``torchwarden.notebook.extension``).
"""

from torchwarden.errors import NotebookArgumentError as NotebookArgumentError
from torchwarden.errors import NotebookError as NotebookError
from torchwarden.notebook.extension import NotebookExtension as NotebookExtension
from torchwarden.notebook.extension import load_ipython_extension as load_ipython_extension
from torchwarden.notebook.extension import unload_ipython_extension as unload_ipython_extension
from torchwarden.notebook.release import Released as Released
from torchwarden.notebook.release import release as release
from torchwarden.notebook.table import Group as Group

__all__ = [
    "Group",
    "NotebookArgumentError",
    "NotebookError",
    "NotebookExtension",
    "Released",
    "load_ipython_extension",
    "release",
    "unload_ipython_extension",
]
