"""What to run: a script path, a module (``-m``), or the bundled example."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from torchwarden.errors import ScriptNotFoundError

__all__ = ["EXAMPLE_MODULE", "Workload"]

EXAMPLE_MODULE = "torchwarden.examples.transformer"


@dataclass(frozen=True)
class Workload:
    kind: Literal["script", "module"]
    target: str
    args: tuple[str, ...] = field(default=())

    @classmethod
    def resolve(
        cls, script: str | None, module: str | None, args: tuple[str, ...] = ()
    ) -> Workload:
        """Check that the script or module exists; neither means the bundled example."""
        if script and module:
            raise ScriptNotFoundError(
                f"give a script or -m MODULE, not both (got {script!r} and -m {module!r})."
            )
        if module:
            if importlib.util.find_spec(module) is None:
                raise ScriptNotFoundError(
                    f"No module named {module!r} on sys.path. Check the name, or install the "
                    "package that provides it into this environment."
                )
            return cls("module", module, tuple(args))
        if script:
            path = Path(script)
            if not path.is_file():
                hint = " It is a directory: name the .py file inside it." if path.is_dir() else ""
                raise ScriptNotFoundError(
                    f"No script at {script!r} (working directory {Path.cwd()}).{hint}"
                )
            return cls("script", str(path), tuple(args))
        return cls("module", EXAMPLE_MODULE, tuple(args))

    @property
    def name(self) -> str:
        if self.kind == "module":
            return "example" if self.target == EXAMPLE_MODULE else self.target.rsplit(".", 1)[-1]
        return Path(self.target).stem

    @property
    def command(self) -> list[str]:
        head = ["python", "-m", self.target] if self.kind == "module" else ["python", self.target]
        return [*head, *self.args]

    @property
    def argv(self) -> list[str]:
        """``sys.argv`` as the workload would see it under plain ``python``."""
        if self.kind == "module":
            spec = importlib.util.find_spec(self.target)
            origin = spec.origin if spec is not None and spec.origin else self.target
            return [origin, *self.args]
        return [self.target, *self.args]
