"""Cost of every registered network at its default config: parameters, MACs, CPU time, memory.

For each network (``list_restorers("network")``, built with the registry entry's defaults, random
weights: the cost does not depend on the weights) and each size (256x256 and 1024x1024; gray
input for nets whose default ``in_channels`` is 1, colour for 3):

- parameters: :func:`restorekit.nets.common.count_parameters`;
- MACs at 256x256: counted by forward hooks on ``Conv2d``, ``ConvTranspose2d``, ``Linear`` and
  ``LSTM`` modules (see :class:`MacCounter`); a net that runs its LSTM weights step by step in
  Python (``cnn-lstm``'s ``decode``) is counted by wrapping that method with the LSTM formula;
- CPU forward time: ``torch.set_num_threads(2)``, ``torch.inference_mode()``, one warm-up pass,
  then the best of 3 timed passes. A net whose 256x256 time exceeds 3 s is not run at
  1024x1024; the table shows the x16 (pixel-count) estimate instead;
- peak memory of the forward: each case runs in a fresh subprocess; the warm-up pass's peak
  resident set size (``getrusage(RUSAGE_SELF).ru_maxrss``) minus the baseline taken after the
  imports, the net and the input were in memory.

Writes ``docs/benchmarks/nets.md``::

    python benchmarks/nets.py [--out FILE] [--names dncnn,rednet] [--shared]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from machine_info import cpu_model  # noqa: E402  (benchmarks/ is on sys.path)

OUT = REPO / "docs" / "benchmarks" / "nets.md"
SIZES = (256, 1024)
SKIP_SECONDS = 3.0
THREADS = 2
REPEATS = 3
CASE_TIMEOUT_S = 75.0  # a 1024x1024 case still running after this is reported as timed out
BUDGET_S = 300.0  # wall-clock budget: later 1024x1024 cases are skipped once it is spent


class MacCounter:
    """Multiply-accumulates of one forward pass, counted by forward hooks.

    Conv2d: output elements x (in_channels / groups) x kernel area. ConvTranspose2d: input
    elements x (out_channels / groups) x kernel area. Linear: output elements x in_features.
    LSTM (per layer, per step, per sample): 4 x hidden x (layer input + hidden). Bias additions,
    normalisation, activations, pooling and element-wise ops are not counted.
    """

    def __init__(self, net: Any) -> None:
        from torch import nn

        self.macs = 0
        self.handles = []
        self._restore: list[tuple[Any, str]] = []
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.LSTM)):
                self.handles.append(m.register_forward_hook(self._hook))
        lstms = [m for m in net.modules() if isinstance(m, nn.LSTM)]
        if lstms and hasattr(net, "decode"):  # step-by-step LSTM outside nn.LSTM.forward
            self._wrap_decode(net, lstms[0])

    @staticmethod
    def lstm_macs(lstm: Any, batch: int, steps: int) -> int:
        """MACs of ``lstm`` over ``steps`` steps of ``batch`` sequences."""
        per_step = 0
        for k in range(lstm.num_layers):
            w_ih = getattr(lstm, f"weight_ih_l{k}")
            per_step += w_ih.shape[0] * (w_ih.shape[1] + lstm.hidden_size)
        return batch * steps * per_step

    def _wrap_decode(self, net: Any, lstm: Any) -> None:
        original = net.decode

        def decode(rows: Any, *args: Any, **kwargs: Any) -> Any:
            self.macs += self.lstm_macs(lstm, rows.shape[0], rows.shape[1])
            return original(rows, *args, **kwargs)

        net.decode = decode
        self._restore.append((net, "decode"))

    def _hook(self, m: Any, inputs: tuple[Any, ...], out: Any) -> None:
        from torch import nn

        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            self.macs += out.numel() * (m.in_channels // m.groups) * k
        elif isinstance(m, nn.ConvTranspose2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            self.macs += inputs[0].numel() * (m.out_channels // m.groups) * k
        elif isinstance(m, nn.Linear):
            self.macs += out.numel() * m.in_features
        elif isinstance(m, nn.LSTM):
            x = inputs[0]
            batch, steps = (x.shape[0], x.shape[1]) if m.batch_first else (x.shape[1], x.shape[0])
            self.macs += self.lstm_macs(m, batch, steps)

    def remove(self) -> None:
        """Detach the hooks and undo the method wrapping."""
        for h in self.handles:
            h.remove()
        for obj, attr in self._restore:
            del obj.__dict__[attr]


def run_case(name: str, size: int) -> dict[str, Any]:
    """Measure one net at one size (called in a fresh subprocess); returns the numbers."""
    import resource

    import torch

    from restorekit.restorers.base import build_net, get_entry

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    entry = get_entry(name)
    net = build_net(name).eval()
    channels = int(entry.defaults.get("in_channels", net.in_channels))
    x = torch.rand(1, channels, size, size)
    counter = MacCounter(net) if size == 256 else None
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with torch.inference_mode():
        t0 = time.perf_counter()
        y = net(x)  # warm-up, also the memory measurement
        warm = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert y.shape == x.shape, (name, tuple(y.shape))
    del y
    macs = None
    if counter is not None:
        macs = counter.macs
        counter.remove()
    times = []
    with torch.inference_mode():
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - t0)
    return {"name": name, "size": size, "channels": channels, "macs": macs,
            "warmup_s": warm, "best_s": min(times), "times": times,
            "base_mib": base / 1024, "peak_mib": peak / 1024,
            "forward_mib": (peak - base) / 1024}


def spawn(name: str, size: int, timeout: float | None = None) -> dict[str, Any] | None:
    """Run :func:`run_case` in a fresh interpreter and parse its JSON answer (None: timeout)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(THREADS)}
    try:
        proc = subprocess.run([sys.executable, __file__, "--case", name, str(size)], env=env,
                              capture_output=True, text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        raise RuntimeError(f"{name} at {size}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> str:
    """A one-line description of the CPU, RAM and software."""
    import torch

    cpu = cpu_model()
    try:
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
        ram = f", {mem_kib / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        ram = ""
    return (f"{cpu}, {os.cpu_count()} logical CPUs{ram}; torch {torch.__version__} with "
            f"{THREADS} intra-op threads; Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def fmt_s(s: float) -> str:
    return f"{s:.3f}" if s < 10 else f"{s:.1f}"


def render(rows: list[dict[str, Any]], started: float, cmd: str, shared: bool = False) -> str:
    """The markdown report; ``shared``: say another job ran beside the benchmark."""
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    lines = [
        "# Networks: parameters, MACs, CPU time and memory",
        "",
        "Every registered network with its registry default config (random weights: the cost "
        "does not depend on the weights), on one 256x256 and one 1024x1024 image; gray (1 "
        "channel) input for nets whose default `in_channels` is 1, colour (3) for the others.",
        "",
        "- Command: `" + cmd + "`",
        f"- Machine: {machine()}",
        f"- Date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}; total "
        f"{(time.time() - started) / 60:.1f} min; load average at the end {load}",
        *(["- **The machine was shared with another job** (`--shared`), so the times are "
            "upper bounds: on an idle machine they are lower."] if shared else []),
        "",
        "| net | in ch | params | GMACs @256 | s @256 | s @1024 | fwd MiB @256 | "
        "fwd MiB @1024 | peak RSS MiB @1024 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        small, big = r["cases"].get(256), r["cases"].get(1024)
        if big is None:
            est = small["best_s"] * 16
            why = ("time budget; " if r.get("budget_skip") else
                   f"timed out after {CASE_TIMEOUT_S:.0f} s; " if r.get("timeout") else "")
            t_big = f"skipped ({why}est. {est:.0f} s)"
            mem_big = peak_big = "-"
        else:
            t_big = fmt_s(big["best_s"])
            mem_big = f"{big['forward_mib']:.0f}"
            peak_big = f"{big['peak_mib']:.0f}"
        lines.append(
            f"| {r['name']} | {small['channels']} | {r['params'] / 1e6:.3f}M | "
            f"{small['macs'] / 1e9:.2f} | {fmt_s(small['best_s'])} | {t_big} | "
            f"{small['forward_mib']:.0f} | {mem_big} | {peak_big} |")
    lines += [
        "",
        "## Method",
        "",
        "- **params**: trainable parameters (`count_parameters`; shared weights once).",
        "- **GMACs @256**: multiply-accumulates of one 256x256 forward, in 1e9, counted by "
        "forward hooks: Conv2d = output elements x in_channels/groups x kernel area; "
        "ConvTranspose2d = input elements x out_channels/groups x kernel area; Linear = output "
        "elements x in_features; LSTM = batch x steps x sum over layers of 4 x hidden x (layer "
        "input + hidden). `cnn-lstm` runs its LSTM weights step by step in Python on the CPU "
        "(not through `nn.LSTM.forward`), so its `decode` is wrapped and counted with the LSTM "
        "formula (its input is cut into 28-column strips, each one sequence of H rows). Biases, "
        "normalisation, activations, pooling, padding and element-wise ops are not counted. "
        "Recursive nets (memnet) count each execution of a shared layer.",
        f"- **s**: CPU forward time, `torch.set_num_threads({THREADS})`, "
        "`torch.inference_mode()`, batch 1, one warm-up pass then the best of "
        f"{REPEATS} timed passes. A net slower than {SKIP_SECONDS:.0f} s at 256x256 is not run "
        "at 1024x1024; its estimate is 16x (the pixel ratio) the 256x256 time. To keep the run "
        f"short, 1024x1024 cases are also skipped once {BUDGET_S / 60:.0f} min have passed "
        "(marked `time budget`), and a 1024x1024 case still running after "
        f"{CASE_TIMEOUT_S:.0f} s (warm-up + {REPEATS} passes) is stopped (marked `timed out`).",
        "- **fwd MiB**: peak memory the forward pass adds. Each (net, size) case runs in a fresh "
        "subprocess; after the imports, building the net and allocating the input, the process's "
        "peak resident set size (`resource.getrusage(RUSAGE_SELF).ru_maxrss`) is read as the "
        "baseline; the warm-up forward runs; the peak is read again and the difference is "
        "reported. PyTorch's CPU allocator is invisible to `tracemalloc` and has no peak "
        "counter on the CPU, while the kernel's high-water mark counts every page the forward "
        "touched (activations, output, oneDNN scratch). The high-water mark never decreases, "
        "hence one process per case; memory already touched and freed before the baseline "
        "(during imports) could be reused without raising the peak, so the numbers are lower "
        "bounds of the forward's own allocations, within a few MiB.",
        "- **peak RSS**: the whole process's peak at 1024x1024 (interpreter, torch, net, input "
        "and forward): what a machine needs to run it.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run every case and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", nargs=2, metavar=("NAME", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--names", help="Comma-separated nets (default: every registered net).")
    parser.add_argument("--shared", action="store_true",
                        help="another job shares the CPU: say so in the report")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case[0], int(args.case[1]))))
        return
    from restorekit.nets.common import count_parameters
    from restorekit.restorers.base import build_net, list_restorers

    started = time.time()
    names = args.names.split(",") if args.names else [e.name for e in
                                                       list_restorers("network")]
    rows = []
    for name in names:
        row: dict[str, Any] = {"name": name, "params": count_parameters(build_net(name)),
                               "cases": {}}
        for size in SIZES:
            small = row["cases"].get(256)
            if size == 1024 and small is not None and small["best_s"] > SKIP_SECONDS:
                break
            if size == 1024 and time.time() - started > BUDGET_S:
                row["budget_skip"] = True
                break
            case = spawn(name, size, CASE_TIMEOUT_S if size == 1024 else None)
            if case is None:
                row["timeout"] = True
                break
            row["cases"][size] = case
            print(f"{name:14s} {size:5d}  {case['best_s']:8.3f} s  "
                  f"{case['forward_mib']:8.0f} MiB  macs={case['macs']}", flush=True)
        rows.append(row)
    cmd = ("python benchmarks/nets.py" + (f" --names {args.names}" if args.names else "")
           + (" --shared" if args.shared else ""))
    text = render(rows, started, cmd, args.shared)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
