"""The coupling neural spline flow against exact identities: it inverts to round-off, its log-det
Jacobian equals the autograd Jacobian's, and its 1-D density integrates to one.

Weights are perturbed away from the identity initialisation (scale 0.05: splines visibly bent,
z - θ up to ~2) so the checks exercise non-trivial maps; float64 throughout.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trustbench.posterior.networks import ResidualNet, spline_coupling_flow  # noqa: E402


def perturbed_flow(features, context=3, seed=0):
    torch.manual_seed(seed)
    flow = spline_coupling_flow(features, context, transforms=4, width=32, blocks=2, bins=8).double()
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return flow


@pytest.mark.parametrize("features", [1, 2, 5])
def test_inverse_and_log_det(features):
    flow = perturbed_flow(features)
    c = torch.randn(6, 3, dtype=torch.float64)
    theta = 2.0 * torch.randn(6, features, dtype=torch.float64)  # reaches the identity tails beyond ±3
    transform = flow(c).transform
    z, ladj = transform.call_and_ladj(theta)
    assert (z - theta).abs().max() > 0.1  # not the identity
    torch.testing.assert_close(transform.inv(z), theta, atol=1e-10, rtol=0)
    for i in range(len(theta)):
        jac = torch.autograd.functional.jacobian(lambda v, i=i: flow(c[i:i + 1]).transform(v), theta[i:i + 1])
        torch.testing.assert_close(ladj[i], torch.linalg.slogdet(jac.reshape(features, features))[1],
                                   atol=1e-8, rtol=0)


def test_one_feature_density_integrates_to_one():
    flow = perturbed_flow(1)
    grid = torch.linspace(-20.0, 20.0, 400_001, dtype=torch.float64)[:, None]  # sharp spline features: trapezoid error <~1e-5
    with torch.no_grad():
        for c in torch.randn(3, 1, 3, dtype=torch.float64):
            density = flow(c.expand(len(grid), 3)).log_prob(grid).exp()
            assert abs(float(torch.trapezoid(density, grid[:, 0])) - 1.0) < 1e-4


def test_draws_broadcast_over_a_sample_axis():
    flow = perturbed_flow(3)
    c = torch.randn(4, 3, dtype=torch.float64)
    z = torch.randn(5, 4, 3, dtype=torch.float64)
    draws = flow(c).transform.inv(z)
    assert draws.shape == (5, 4, 3)
    torch.testing.assert_close(draws[2, 1], flow(c[1:2]).transform.inv(z[2, 1:2])[0])


def test_residual_net_starts_near_its_skip_path():
    """Each block's last layer starts in ±1e-3, so at initialisation the output is the read-out of
    the first layer (up to ~1e-3), whatever the context does."""
    torch.manual_seed(0)
    net = ResidualNet(3, 4, context=2, width=16, blocks=2)
    x, c = torch.randn(10, 3), torch.randn(10, 2)
    skip = net.last(net.first(torch.cat((x, c), dim=-1)))
    assert (net(x, c) - skip).abs().max() < 0.05
    assert np.isfinite(net(x, c).detach().numpy()).all()
