"""``torchwarden run``: govern an unmodified script. See README.md beside this file."""

from torchwarden.errors import LeaseError as LeaseError
from torchwarden.errors import RecordWriteError as RecordWriteError
from torchwarden.errors import RunError as RunError
from torchwarden.errors import RunIndexError as RunIndexError
from torchwarden.errors import ScriptNotFoundError as ScriptNotFoundError

__all__ = ["LeaseError", "RecordWriteError", "RunError", "RunIndexError", "ScriptNotFoundError"]
