"""The public surface: complete, typed, light to import, and a working CLI."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

import torchwarden


def test_all_names_resolve() -> None:
    for name in torchwarden.__all__:
        assert getattr(torchwarden, name) is not None, name


def test_all_is_complete() -> None:
    defined = {
        n
        for n, v in vars(torchwarden).items()
        if not n.startswith(("_", "@")) and not isinstance(v, types.ModuleType)
    }
    public = (defined | set(torchwarden._LAZY)) - {"annotations", "TYPE_CHECKING", "Any"}
    missing = public - set(torchwarden.__all__)
    assert not missing, f"exported but not in __all__: {missing}"


# every library subpackage; the CLI's surface is its commands, not its imports
SUBPACKAGES = [
    "contracts",
    "data",
    "distributed",
    "env",
    "lifecycle",
    "memory",
    "nn",
    "notebook",
    "report",
    "runtime",
    "train",
    "web",
]  # metrics is lazy like the root


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_subpackage_all_is_complete_and_resolves(name: str) -> None:
    package = importlib.import_module(f"torchwarden.{name}")
    public = {
        n
        for n, v in vars(package).items()
        if not n.startswith(("_", "@")) and not isinstance(v, types.ModuleType)
    } - {"annotations"}
    assert public == set(package.__all__), f"torchwarden.{name}: __all__ differs from its names"
    assert package.__all__ == sorted(package.__all__, key=_isort_key), "keep __all__ sorted"
    for member in package.__all__:
        assert getattr(package, member) is not None, member


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's order (RUF022): CONSTANTS, then Classes, then functions
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def test_errors_share_one_root() -> None:
    from torchwarden import errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), torchwarden.TorchwardenError), name


def _python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_is_light_and_never_initialises_cuda() -> None:
    assert _python("import sys, torchwarden; print('torch' in sys.modules)") == "False"
    light = (
        "import sys, torchwarden.runtime, torchwarden.report, torchwarden.env, torchwarden.errors"
    )
    assert _python(f"{light}; print('torch' in sys.modules)") == "False"
    code = (
        "import torchwarden, torch\n"
        "torchwarden.scope; torchwarden.memory.stats(); torchwarden.nn.PositionalEncoding\n"
        "print(torch.cuda.is_initialized())"
    )
    assert _python(code) == "False"


def test_cli_version_and_help() -> None:
    run = [sys.executable, "-m", "torchwarden"]
    version = subprocess.run([*run, "--version"], capture_output=True, text=True, check=True)
    assert torchwarden.__version__ in version.stdout
    helptext = subprocess.run([*run, "--help"], capture_output=True, text=True, check=True)
    assert "Govern PyTorch work" in helptext.stdout


def test_py_typed_ships() -> None:
    from importlib.resources import files

    assert files("torchwarden").joinpath("py.typed").is_file()
