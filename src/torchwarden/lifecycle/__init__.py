"""Tensor-lifecycle governance: which tensors outlive a block, who holds them, and why."""

from torchwarden.errors import ScopeArgumentError as ScopeArgumentError
from torchwarden.errors import ScopeError as ScopeError
from torchwarden.errors import TensorLeakError as TensorLeakError
from torchwarden.lifecycle.graph import GraphRetention as GraphRetention
from torchwarden.lifecycle.graph import graph_retention as graph_retention
from torchwarden.lifecycle.holdings import Holding as Holding
from torchwarden.lifecycle.holdings import holdings as holdings
from torchwarden.lifecycle.report import Leak as Leak
from torchwarden.lifecycle.report import ScopeReport as ScopeReport
from torchwarden.lifecycle.report import StateTensor as StateTensor
from torchwarden.lifecycle.scope import TensorScope as TensorScope
from torchwarden.lifecycle.scope import scope as scope
from torchwarden.lifecycle.scope import scoped as scoped

__all__ = [
    "GraphRetention",
    "Holding",
    "Leak",
    "ScopeArgumentError",
    "ScopeError",
    "ScopeReport",
    "StateTensor",
    "TensorLeakError",
    "TensorScope",
    "graph_retention",
    "holdings",
    "scope",
    "scoped",
]
