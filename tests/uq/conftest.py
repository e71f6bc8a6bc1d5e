import pytest


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Run the UQ tests single-threaded, as the runner runs methods: tiny networks gain nothing from
    intra-op threads, and on a shared 2-core machine the threads' barriers stall under contention."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
