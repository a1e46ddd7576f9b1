"""Shared fixtures."""

from __future__ import annotations

import os

import pytest

# every keyed kernel call is checked against its full argument key (search.jit.kernel)
os.environ.setdefault("STANDIN_CHECK_KERNEL_KEYS", "1")


@pytest.fixture
def restore_torch_threads():
    """Undo ``torch.set_num_threads(1)``, which the in-process runner (workers=1) calls on the test process."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def one_torch_thread(restore_torch_threads):
    """Train tiny networks on one thread (faster, and how the runner trains); restored afterwards."""
    import torch

    torch.set_num_threads(1)
