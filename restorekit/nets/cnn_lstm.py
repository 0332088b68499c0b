"""CNN encoder + row-wise multilayer LSTM decoder with direct attention, and the CNN-CNN baseline.

K. N. Haque, M. A. Yousuf, R. Rana, *Image denoising and restoration with CNN-LSTM Encoder
Decoder with Direct Attention*, arXiv 2018: Sec. 4 (model, Eqs. 3-14), Sec. 5.2 (Table 1,
encoder; five-layer LSTM decoder; CNN-CNN baseline "of 32, 64 convolutional layer and
symmetric deconvolutional layer"), Sec. 5.3 (dropout 25%).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from restorekit.nets.common import crop_to, pad_to_multiple
from restorekit.restorers.base import register_net

_PAPER = ("Haque, Yousuf, Rana, Image denoising and restoration with CNN-LSTM Encoder Decoder "
          "with Direct Attention, arXiv 2018")


@register_net(
    "cnn-cnn",
    paper=_PAPER,
    tasks=("denoise", "inpaint"),
    channels=(1, 3),
    summary="Convolutional encoder-decoder baseline: conv 32, 64 + max-pool, mirrored deconvs.",
    defaults={"in_channels": 1, "out_channels": 1, "features": (32, 64), "kernel_size": 5,
              "dropout": 0.25},
)
class CnnCnn(nn.Module):
    """Haque et al.'s CNN-CNN baseline (Sec. 5.2, Fig. 1): conv 32, conv 64, mirrored deconvs.

    The paper gives only "32, 64 convolutional layer and symmetric deconvolutional layer", so we
    reuse the CNN-LSTM encoder's Table 1 layers for a like-for-like comparison:
    Conv 32@5x5 same + ReLU, MaxPool 2, Conv 64@5x5 same + ReLU, MaxPool 2 (1@28x28 -> 64@7x7),
    then the mirror: ConvTranspose 64->32 5x5 stride 2 + ReLU (-> 32@14x14) and
    ConvTranspose 32->C 5x5 stride 2 + sigmoid (-> C@28x28; sigmoid like the CNN-LSTM output,
    Sec. 4.2.4, since targets are in [0, 1]). The paper's 25% dropout (Sec. 5.3) is applied to
    the 64@7x7 code. Any H, W: padded to a multiple of 4 (reflect) and cropped back.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1,
                 features: Sequence[int] = (32, 64), kernel_size: int = 5,
                 dropout: float = 0.25) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError("kernel_size must be odd (same padding)")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.features = tuple(int(f) for f in features)
        self.multiple = 2 ** len(self.features)
        k, p = kernel_size, kernel_size // 2

        enc: list[nn.Module] = []
        prev = in_channels
        for f in self.features:
            enc += [nn.Conv2d(prev, f, k, padding=p), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            prev = f
        self.encoder = nn.Sequential(*enc)
        self.dropout = nn.Dropout(dropout)
        dec: list[nn.Module] = []
        for f in reversed(self.features[:-1]):
            dec += [nn.ConvTranspose2d(prev, f, k, stride=2, padding=p, output_padding=1),
                    nn.ReLU(inplace=True)]
            prev = f
        dec += [nn.ConvTranspose2d(prev, out_channels, k, stride=2, padding=p, output_padding=1),
                nn.Sigmoid()]
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, size = pad_to_multiple(x, self.multiple)
        return crop_to(self.decoder(self.dropout(self.encoder(x))), size)


@register_net(
    "cnn-lstm",
    paper=_PAPER,
    tasks=("denoise", "inpaint"),
    channels=(1, 3),
    summary="CNN encoder -> thought vector; 5-layer LSTM draws the image row by row.",
    defaults={"in_channels": 1, "out_channels": 1, "width": 28, "thought_dim": 100,
              "hidden_size": 128, "num_layers": 5, "dropout": 0.25, "teacher_forcing": False,
              "residual": False},
)
class CnnLstm(nn.Module):
    """Haque et al.'s CNN-LSTM encoder-decoder with direct attention (Sec. 4, Table 1).

    Encoder (Table 1, Eqs. 5-7): Conv 32@5x5 same + ReLU, MaxPool 2, Conv 64@5x5 same + ReLU,
    MaxPool 2, fully connected 64*7*7 -> 100 with tanh: the thought vector ``v`` (Eq. 3).
    Sec. 4.2.4 says "the final fully connected layer of the decoder" uses tanh; it is the
    encoder's FC layer (the decoder has none but the output layer), a typo we read so.

    Decoder (Sec. 4.2.2, Eqs. 8-14): a ``num_layers`` = 5 LSTM run over image rows (time step
    t = row t). The bottom layer's input at step t is the concatenation
    ``[x_t, v, y_{t-1}]`` (corrupted row t, thought vector, previous output row, zeros at the
    first row); one weight matrix on the concatenation is exactly the sum
    ``x_t W^x + v W^v + y_{t-1} W^y`` of Eqs. 8-11. Initial hidden and cell states are zero.
    Output row ``y_t = sigmoid(h_t W + b)`` (Eq. 14) from the top layer. Eq. 13 writes
    ``h_t = tanh(C_t) * i^t``; we read the input gate there as a typo for the output gate
    ``o^t`` of Eq. 10 (otherwise unused): the standard LSTM cell, weights held in an ``nn.LSTM``.

    Choices where the paper is vague:

    - hidden size: not given; ``hidden_size = 128``;
    - dropout 25% (Sec. 5.3, place not given): on every LSTM layer's output, i.e. between the
      stacked layers (``nn.LSTM(dropout=...)``) and on the top layer before the output layer,
      as TensorFlow's per-cell ``DropoutWrapper`` does; not on the raw rows;
    - free-running by default: ``y_{t-1}`` is the model's own previous output row (gradients
      flow through the fed-back rows). With ``teacher_forcing=True`` and
      ``forward(x, target=clean)``, the previous *clean* row is fed instead;
    - channels: a row is ``C * width`` values, channel-major (all of channel 0, then 1, ...);
    - height: rows are time steps, so any H works; the encoder pads H (and W) to a multiple
      of 4 and adaptive-average-pools the 64-channel map to 7x7 before the FC layer, which is
      the identity for 28x28 inputs and lets any size reach the fixed 64*7*7 FC input;
    - width: the LSTM's row size is fixed at ``width`` (28). An input of another width is cut
      into vertical strips of ``width`` columns (the last strip reflect-padded), each strip is
      restored as its own image (own thought vector, own row sequence) in one batch, and the
      strips are put back and cropped to W. For W = ``width`` this is exactly the paper.
    - stacking: not described. ``residual=False`` (default) stacks the five layers plainly;
      ``residual=True`` adds each upper layer's input to its output before passing it up
      (residual LSTM stacking, Wu et al., *Google's Neural Machine Translation System*, 2016,
      Sec. 3.1), leaving each layer's recurrent state the plain ``h_t``. At PyTorch's default
      init the plainly stacked decoder's output barely depends on its input rows (new rows
      move it by about 1e-5, against 4e-3 with residual stacking), so its gradients reach the
      input weights too weakly and training settles on the mean digit first (see the
      cnn-lstm-mnist report).
    - L2 weight decay (Sec. 4.2.5) and the RMSE loss (Eq. 15) belong to training, not here.
    """

    #: Tracing would unroll the row loop for one height only (see restorekit.export).
    exportable = False

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 28,
                 thought_dim: int = 100, hidden_size: int = 128, num_layers: int = 5,
                 dropout: float = 0.25, teacher_forcing: bool = False,
                 residual: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.width = width
        self.thought_dim = thought_dim
        self.teacher_forcing = teacher_forcing
        self.residual = bool(residual)
        self.row_in = in_channels * width
        self.row_out = out_channels * width
        self.encoder = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, 32, 5, padding=2)),
            ("relu1", nn.ReLU(inplace=True)),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(32, 64, 5, padding=2)),
            ("relu2", nn.ReLU(inplace=True)),
            ("pool2", nn.MaxPool2d(2)),
            ("resize", nn.AdaptiveAvgPool2d(7)),
            ("flatten", nn.Flatten()),
            ("fc", nn.Linear(64 * 7 * 7, thought_dim)),
            ("tanh", nn.Tanh()),
        ]))
        self.lstm = nn.LSTM(self.row_in + thought_dim + self.row_out, hidden_size, num_layers,
                            batch_first=True, dropout=dropout if num_layers > 1 else 0.0)
        self.out_dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, self.row_out)

    # -- the two halves ---------------------------------------------------------------------

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Thought vector ``v`` (N x thought_dim) of an N x C x H x width batch (Eq. 3)."""
        x, _ = pad_to_multiple(x, 4)
        return self.encoder(x)

    def decode(self, rows: torch.Tensor, thought: torch.Tensor,
               prev_rows: torch.Tensor | None = None) -> torch.Tensor:
        """Draw the output rows (N x T x row_out) from corrupted rows (N x T x row_in).

        ``thought`` is N x thought_dim. With ``prev_rows`` (N x T x row_out, e.g. the clean
        rows) the input at step t uses ``prev_rows[:, t-1]`` (teacher forcing); without it the
        decoder is free-running and feeds back its own output. Output row t depends only on
        rows <= t, the thought vector and (teacher forcing) ``prev_rows`` < t.

        The steps run in Python with the weights of ``self.lstm``; teacher forcing on CUDA
        instead makes one fused ``self.lstm`` call over the sequence (:meth:`_decode_fused`,
        same result; not with ``residual``). On CPU the step loop is much faster than
        ``nn.LSTM``, whose oneDNN path rebuilds its kernels for every new input shape.
        """
        if prev_rows is not None and rows.is_cuda and not self.residual:
            return self._decode_fused(rows, thought, prev_rows)
        lstm = self.lstm
        n, steps, _ = rows.shape
        weights = [(getattr(lstm, f"weight_ih_l{k}"), getattr(lstm, f"weight_hh_l{k}"),
                    getattr(lstm, f"bias_ih_l{k}") + getattr(lstm, f"bias_hh_l{k}"))
                   for k in range(lstm.num_layers)]
        # Bottom layer, Eqs. 8-11: x_t W^x + v W^v + y_{t-1} W^y + h_{t-1} W^h + b. The x and
        # v terms are known for every t upfront, so they are computed in one go.
        w_x, w_v, w_y = weights[0][0].split([self.row_in, self.thought_dim, self.row_out], 1)
        pre = rows @ w_x.T + (thought @ w_v.T + weights[0][2]).unsqueeze(1)
        hs = [rows.new_zeros(n, lstm.hidden_size) for _ in weights]
        cs = [rows.new_zeros(n, lstm.hidden_size) for _ in weights]
        y = rows.new_zeros(n, self.row_out)  # y_0 = 0
        outs = []
        for t in range(steps):
            if prev_rows is not None and t > 0:
                y = prev_rows[:, t - 1]  # teacher forcing: the previous clean row
            below = None  # what layer k-1 passes up at step t
            for k, (w_ih, w_hh, b) in enumerate(weights):
                if k == 0:
                    gates = pre[:, t] + y @ w_y.T + hs[0] @ w_hh.T
                else:
                    inp = F.dropout(below, lstm.dropout, self.training)
                    gates = inp @ w_ih.T + hs[k] @ w_hh.T + b
                hs[k], cs[k] = self._cell(gates, cs[k])
                # Residual stacking (Wu et al. 2016) adds a layer's input to what it passes up;
                # its own recurrent state stays the plain h_t.
                below = hs[k] + below if self.residual and k > 0 else hs[k]
            y = torch.sigmoid(self.head(self.out_dropout(below)))  # Eq. 14
            outs.append(y)
        return torch.stack(outs, dim=1)

    @staticmethod
    def _cell(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """LSTM cell update from pre-activations (PyTorch gate order i, f, g, o)."""
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # Eqs. 8, 9, 11, 12
        return torch.sigmoid(o) * torch.tanh(c), c  # Eqs. 10, 13 (output gate, see above)

    def _decode_fused(self, rows: torch.Tensor, thought: torch.Tensor,
                      prev_rows: torch.Tensor) -> torch.Tensor:
        """Teacher-forced decoding in one ``nn.LSTM`` call (all inputs are known upfront)."""
        n, steps, _ = rows.shape
        prev = torch.cat([rows.new_zeros(n, 1, self.row_out), prev_rows[:, :-1]], dim=1)
        v = thought.unsqueeze(1).expand(n, steps, thought.shape[-1])
        h, _ = self.lstm(torch.cat([rows, v, prev], dim=-1))
        return torch.sigmoid(self.head(self.out_dropout(h)))

    # -- image <-> strips of rows -----------------------------------------------------------

    def _to_strips(self, x: torch.Tensor) -> torch.Tensor:
        """N x C x H x W -> (N*S) x C x H x width, W reflect-padded to S*width."""
        n, c, h, w = x.shape
        pw = (-w) % self.width
        if pw:
            x = F.pad(x, (0, pw, 0, 0), mode="reflect" if pw < w else "replicate")
        s = x.shape[-1] // self.width
        return x.reshape(n, c, h, s, self.width).permute(0, 3, 1, 2, 4).reshape(
            n * s, c, h, self.width)

    def _from_strips(self, x: torch.Tensor, n: int, w: int) -> torch.Tensor:
        """Inverse of :meth:`_to_strips`, cropped back to width ``w``."""
        ns, c, h, _ = x.shape
        s = ns // n
        x = x.reshape(n, s, c, h, self.width).permute(0, 2, 3, 1, 4).reshape(
            n, c, h, s * self.width)
        return x[..., :w]

    @staticmethod
    def _rows(x: torch.Tensor) -> torch.Tensor:
        """B x C x H x Wd -> B x H x (C*Wd): one time step per image row, channel-major."""
        b, c, h, wd = x.shape
        return x.permute(0, 2, 1, 3).reshape(b, h, c * wd)

    def forward(self, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """Restore x (N x C x H x W); ``target`` (clean, N x out_C x H x W) is used only when
        ``teacher_forcing`` is on."""
        n, c, h, w = x.shape
        if c != self.in_channels:
            raise ValueError(f"expected {self.in_channels} channels, got {c}")
        strips = self._to_strips(x)
        thought = self.encode(strips)
        prev = None
        if self.teacher_forcing and target is not None:
            if target.shape != (n, self.out_channels, h, w):
                raise ValueError(f"target shape {tuple(target.shape)} does not match "
                                 f"{(n, self.out_channels, h, w)}")
            prev = self._rows(self._to_strips(target))
        out = self.decode(self._rows(strips), thought, prev)
        out = out.reshape(-1, h, self.out_channels, self.width).permute(0, 2, 1, 3)
        return self._from_strips(out, n, w)
