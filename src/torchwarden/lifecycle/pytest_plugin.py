"""pytest plugin: ``@pytest.mark.no_tensor_leaks`` fails a test whose body leaks tensors.

Registered through the ``pytest11`` entry point, so installing torchwarden enables it.
The marker runs the test body in an exact scope; on a leak the test fails with the
report table. ``@pytest.mark.no_tensor_leaks(allow=2)`` tolerates that many leaks.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

MARKER = "no_tensor_leaks"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(allow=0): fail the test if its body leaks tensors (torchwarden)"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return (yield)
    from torchwarden.lifecycle.scope import TensorScope

    allow = int(marker.kwargs.get("allow", 0))
    # the test function's locals are gone when it returns: nothing binds its results
    s = TensorScope(f"test {item.nodeid}", mode="exact", results="returned")
    with s:
        result = yield
    if len(s.report.leaks) > allow:
        pytest.fail(f"test leaked tensors (no_tensor_leaks):\n{s.report}", pytrace=False)
    return result
