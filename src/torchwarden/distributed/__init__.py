"""DDP communication hooks that compress gradients and keep their state across resumes.

``register(ddp_model, kind, **options)`` returns a hook whose ``state_dict()`` goes in the
checkpoint (per rank) and loads with ``torch.load(weights_only=True)``.
"""

from torchwarden.distributed.dense import AllReduceHook as AllReduceHook
from torchwarden.distributed.dense import HalfPrecisionHook as HalfPrecisionHook
from torchwarden.distributed.feedback import ErrorFeedbackHook as ErrorFeedbackHook
from torchwarden.distributed.hook import CommHook as CommHook
from torchwarden.distributed.int8 import Int8Hook as Int8Hook
from torchwarden.distributed.powersgd import PowerSGDHook as PowerSGDHook
from torchwarden.distributed.registry import HOOKS as HOOKS
from torchwarden.distributed.registry import register as register
from torchwarden.distributed.topk import TopKHook as TopKHook
from torchwarden.errors import CommHookError as CommHookError
from torchwarden.errors import CommHookStateError as CommHookStateError

__all__ = [
    "HOOKS",
    "AllReduceHook",
    "CommHook",
    "CommHookError",
    "CommHookStateError",
    "ErrorFeedbackHook",
    "HalfPrecisionHook",
    "Int8Hook",
    "PowerSGDHook",
    "TopKHook",
    "register",
]
