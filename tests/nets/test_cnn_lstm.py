"""Tests for restorekit.nets.cnn_lstm: Haque et al.'s CNN-LSTM and the CNN-CNN baseline."""

from __future__ import annotations

import pytest
import torch

from restorekit.nets.cnn_lstm import CnnCnn, CnnLstm
from restorekit.restorers.base import build_net, get_entry

SMALL = {"hidden_size": 16, "thought_dim": 12}


def small(c: int = 1, **kw: object) -> CnnLstm:
    torch.manual_seed(0)
    return CnnLstm(c, c, **{**SMALL, **kw})


# -- CNN-LSTM: structure -----------------------------------------------------------------------

def test_encoder_follows_table_1() -> None:
    net = CnnLstm().eval()
    h = torch.rand(1, 1, 28, 28)
    shapes = {}
    for name, layer in net.encoder.named_children():
        h = layer(h)
        shapes[name] = tuple(h.shape[1:])
    assert shapes["conv1"] == (32, 28, 28)
    assert shapes["pool1"] == (32, 14, 14)
    assert shapes["conv2"] == (64, 14, 14)
    assert shapes["pool2"] == (64, 7, 7)
    assert shapes["resize"] == (64, 7, 7)  # adaptive pooling is the identity at 28x28
    assert shapes["tanh"] == (100,)
    assert net.encoder.conv1.kernel_size == net.encoder.conv2.kernel_size == (5, 5)
    assert (net.encoder.fc.in_features, net.encoder.fc.out_features) == (64 * 7 * 7, 100)


def test_decoder_is_five_layer_lstm_on_row_thought_prev() -> None:
    net = build_net("cnn-lstm")
    assert net.lstm.num_layers == 5
    assert net.lstm.input_size == 28 + 100 + 28  # [row t, thought vector, output row t-1]
    assert net.lstm.dropout == pytest.approx(0.25)
    assert net.out_dropout.p == pytest.approx(0.25)
    assert net.head.out_features == 28
    assert net.teacher_forcing is False


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(28, 28), (31, 29), (37, 45), (5, 3)])
def test_shape_preserved_any_size(c: int, hw: tuple[int, int]) -> None:
    x = torch.rand(2, c, *hw)
    y = small(c).eval()(x)
    assert y.shape == x.shape
    assert ((y >= 0) & (y <= 1)).all()  # sigmoid output (Eq. 14)


def test_wider_images_are_restored_as_independent_strips() -> None:
    """Documented width rule: W = 2 * width is two width-28 images side by side."""
    net = small().eval()
    left, right = torch.rand(1, 1, 20, 28), torch.rand(1, 1, 20, 28)
    with torch.no_grad():
        both = net(torch.cat([left, right], dim=-1))
        torch.testing.assert_close(both[..., :28], net(left))
        torch.testing.assert_close(both[..., 28:], net(right))


def test_gradients_reach_first_layer() -> None:
    net = small().train()
    net(torch.rand(2, 1, 28, 28)).pow(2).mean().backward()
    assert net.encoder.conv1.weight.grad.abs().sum() > 0


def test_eval_deterministic_train_dropout_active() -> None:
    net = small(dropout=0.5)
    x = torch.rand(2, 1, 28, 28)
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x), net(x))
        net.train()
        torch.manual_seed(1)
        a = net(x)
        torch.manual_seed(2)
        assert not torch.equal(a, net(x))


# -- CNN-LSTM: causality and teacher forcing ---------------------------------------------------

def test_decoder_is_causal_over_rows_with_thought_vector_fixed() -> None:
    """Output row t depends only on corrupted rows <= t, *given a fixed thought vector*.

    The full forward pass is not causal: the CNN encoder reads the whole image into the
    thought vector, which every row sees. So we hold the thought vector fixed and test the
    LSTM decoder alone (``decode(rows, thought)``), free-running, dropout off (eval mode).
    """
    net = small().eval()
    torch.manual_seed(3)
    rows, thought = torch.rand(2, 28, 28), torch.rand(2, SMALL["thought_dim"])
    t = 13
    changed = rows.clone()
    changed[:, t + 1:] = torch.rand(2, 28 - t - 1, 28)
    with torch.no_grad():
        a, b = net.decode(rows, thought), net.decode(changed, thought)
    assert torch.equal(a[:, : t + 1], b[:, : t + 1])
    assert not torch.allclose(a[:, t + 1:], b[:, t + 1:])


def test_teacher_forced_decoder_is_causal_in_previous_rows() -> None:
    """With teacher forcing, clean row t only feeds output rows > t (fixed thought vector)."""
    net = small().eval()
    torch.manual_seed(4)
    rows, thought, clean = torch.rand(1, 10, 28), torch.rand(1, 12), torch.rand(1, 10, 28)
    changed = clean.clone()
    changed[:, 4] = 1 - changed[:, 4]
    with torch.no_grad():
        a, b = net.decode(rows, thought, clean), net.decode(rows, thought, changed)
    assert torch.equal(a[:, :5], b[:, :5])
    assert not torch.allclose(a[:, 5:], b[:, 5:])


def test_teacher_forcing_uses_the_target() -> None:
    net = small(teacher_forcing=True).eval()
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        free = net(x)  # no target: free-running
        t1, t2 = torch.rand_like(x), torch.rand_like(x)
        assert not torch.allclose(net(x, target=t1), net(x, target=t2))
        # Feeding the model's own outputs as "clean" rows reproduces the free-running pass.
        torch.testing.assert_close(net(x, target=free), free)


def test_step_loop_matches_fused_nn_lstm() -> None:
    """The hand-written cell step (Eqs. 8-13) is nn.LSTM's computation (used on CUDA)."""
    net = small().eval()
    torch.manual_seed(5)
    rows, thought, clean = torch.rand(2, 9, 28), torch.rand(2, 12), torch.rand(2, 9, 28)
    with torch.no_grad():
        torch.testing.assert_close(net.decode(rows, thought, clean),
                                   net._decode_fused(rows, thought, clean))


def test_teacher_forcing_off_ignores_target_and_train_step_runs() -> None:
    net = small()
    x, clean = torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28)
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x, target=clean), net(x))
    tf = small(teacher_forcing=True).train()
    tf(x, target=clean).sub(clean).pow(2).mean().backward()
    assert tf.encoder.conv1.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        tf(x, target=clean[..., :20])


def test_cnn_lstm_registry_plain_config() -> None:
    entry = get_entry("cnn-lstm")
    assert entry.defaults["in_channels"] == 1 and entry.defaults["width"] == 28
    assert "Haque" in entry.paper and "inpaint" in entry.tasks
    net = build_net("cnn-lstm", **{"hidden_size": 8, "num_layers": 2, "teacher_forcing": True,
                                   "in_channels": 3, "out_channels": 3})
    assert isinstance(net, CnnLstm) and net.lstm.input_size == 84 + 100 + 84
    assert net.eval()(torch.rand(1, 3, 9, 30)).shape == (1, 3, 9, 30)


# -- CNN-CNN baseline --------------------------------------------------------------------------

@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(28, 28), (31, 29), (37, 45)])
def test_cnn_cnn_shape_preserved(c: int, hw: tuple[int, int]) -> None:
    torch.manual_seed(0)
    x = torch.rand(2, c, *hw)
    y = CnnCnn(c, c, features=(8, 16)).eval()(x)
    assert y.shape == x.shape and ((y >= 0) & (y <= 1)).all()


def test_cnn_cnn_layer_shapes_and_grad_and_determinism() -> None:
    net = build_net("cnn-cnn")
    h = torch.rand(2, 1, 28, 28)
    enc = []
    for layer in net.encoder:
        h = layer(h)
        if isinstance(layer, torch.nn.MaxPool2d):
            enc.append(tuple(h.shape[1:]))
    assert enc == [(32, 14, 14), (64, 7, 7)]
    net.train()
    net(torch.rand(2, 1, 28, 28)).mean().backward()
    assert net.encoder[0].weight.grad.abs().sum() > 0
    net.eval()
    x = torch.rand(1, 1, 31, 29)
    assert torch.equal(net(x), net(x))
    assert isinstance(build_net("cnn-cnn", **{"features": [4, 8], "dropout": 0.0}), CnnCnn)


# -- CNN-LSTM: residual stacking ------------------------------------------------------------------

def _input_sensitivity(net: CnnLstm) -> float:
    """Mean change of the decoded rows when every corrupted input row is replaced."""
    torch.manual_seed(7)
    rows, other = torch.rand(16, 28, 28), torch.rand(16, 28, 28)
    thought = torch.zeros(16, net.thought_dim)
    with torch.no_grad():
        return float((net.decode(rows, thought) - net.decode(other, thought)).abs().mean())


def test_residual_stacking_carries_the_input_rows_to_the_output() -> None:
    """The default-init five-layer plain stack all but ignores its input; residual does not."""
    torch.manual_seed(0)
    plain = CnnLstm().eval()
    residual = CnnLstm(residual=True).eval()
    residual.load_state_dict(plain.state_dict())  # same weights, only the stacking differs
    assert _input_sensitivity(residual) > 30 * _input_sensitivity(plain)


def test_residual_decoder_stays_causal_and_trains() -> None:
    net = small(residual=True).eval()
    torch.manual_seed(8)
    rows, thought = torch.rand(2, 12, 28), torch.rand(2, SMALL["thought_dim"])
    changed = rows.clone()
    changed[:, 6:] = torch.rand(2, 6, 28)
    with torch.no_grad():
        a, b = net.decode(rows, thought), net.decode(changed, thought)
    assert torch.equal(a[:, :6], b[:, :6]) and not torch.allclose(a[:, 6:], b[:, 6:])
    net.train()
    x = torch.rand(2, 1, 28, 28)
    net(x).sub(x).pow(2).mean().backward()
    assert net.lstm.weight_ih_l0.grad.abs().sum() > 0
