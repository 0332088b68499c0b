"""What an experiment's ``run`` gets: budget, output folder, seed, device, data, progress."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from restorekit.errors import RestorekitError

Budget = Literal["quick", "full"]
BUDGETS: tuple[str, ...] = ("quick", "full")
T = TypeVar("T")
#: ``--set`` keys that change how fast a run goes, not what it measures (beyond float rounding):
#: runs made with them share the default work folder.
SPEED_ONLY_KEYS = frozenset({"train.threads"})
#: What a training run stopped early inside a reproduction says (``reproduce`` has no --resume).
RESUME_HINT = "re-run the same reproduce command to continue"


@dataclass
class ReproContext:
    """Settings shared by every experiment run.

    ``out`` holds the report; ``figures`` (``out/NAME``) its PNGs and ``work`` (``out/NAME/runs``,
    not meant for committing) the training runs. ``data_root`` is ``$RESTOREKIT_DATA``.
    ``overrides`` (``restorekit reproduce --set KEY=VALUE``) apply to every training config the
    experiment loads, after its own; their runs live in a folder of their own unless they only
    set :data:`SPEED_ONLY_KEYS`.
    """

    name: str
    budget: Budget
    out: Path
    seed: int
    device: str
    quiet: bool
    data_root: Path
    overrides: tuple[str, ...] = ()

    @classmethod
    def create(cls, name: str, *, budget: str, out: str | Path, seed: int, device: str,
               quiet: bool, data_root: str | Path | None,
               overrides: tuple[str, ...] | list[str] = ()) -> ReproContext:
        if budget not in BUDGETS:
            raise RestorekitError(f"budget must be one of {', '.join(BUDGETS)}, not {budget!r}")
        from restorekit.train.config import ExperimentConfig, apply_overrides, data_dir

        # Syntax, keys and types of --set fail here, before any training or folder; the
        # model.config.* keys depend on the network and are checked when each config loads.
        apply_overrides(ExperimentConfig(), list(overrides))
        if data_root is None:
            data_root = data_dir()
        ctx = cls(name=name, budget=budget, out=Path(out), seed=seed,  # type: ignore[arg-type]
                  device=device, quiet=quiet, data_root=Path(data_root),
                  overrides=tuple(overrides))
        ctx.figures.mkdir(parents=True, exist_ok=True)
        return ctx

    @property
    def quick(self) -> bool:
        return self.budget == "quick"

    def pick(self, quick: T, full: T) -> T:
        """``quick`` under the quick budget, else ``full``."""
        return quick if self.quick else full

    @property
    def figures(self) -> Path:
        return self.out / self.name

    @property
    def work(self) -> Path:
        changing = [o for o in self.overrides
                    if o.split("=", 1)[0].strip() not in SPEED_ONLY_KEYS]
        if not changing:
            return self.figures / "runs"
        tag = hashlib.sha256("\n".join(changing).encode()).hexdigest()[:8]
        return self.figures / f"runs-set-{tag}"

    def load_config(self, path: Path, overrides: Iterable[str] = (), *,
                    resolve: bool = True) -> Any:
        """A training config: ``path`` with the experiment's ``overrides``, then the user's."""
        from restorekit.train import load_config

        return load_config(path, [*overrides, *self.overrides], resolve=resolve)

    def dataset(self, name: str) -> Path:
        """``$RESTOREKIT_DATA/name``; a missing dataset is one clear error."""
        path = self.data_root / name
        if not path.exists():
            raise RestorekitError(f"dataset {name!r} not found under {self.data_root} "
                                  "(set RESTOREKIT_DATA to the folder holding it)")
        return path

    def torch_device(self) -> Any:
        from restorekit.device import resolve_device

        return resolve_device(self.device)

    def device_name(self) -> str:
        device = self.torch_device()
        if device.type == "cpu":
            from restorekit.reproduce.report import cpu_model

            return f"CPU ({cpu_model()}, {os.cpu_count()} cores)"
        return str(device)

    @staticmethod
    def threads() -> int:
        import torch

        return torch.get_num_threads()

    def progress(self, items: Iterable[T], **kwargs: Any) -> Iterable[T]:
        """A tqdm progress bar on stderr, silent when quiet."""
        from tqdm import tqdm

        return tqdm(items, disable=self.quiet, dynamic_ncols=True, **kwargs)

    def log(self, message: str) -> None:
        """A status line on stderr (silent when quiet)."""
        if not self.quiet:
            from tqdm import tqdm

            tqdm.write(f"[{self.name}] {message}")


def read_toml(path: Path) -> dict[str, Any]:
    """An experiment plan (TOML) as a dict; unreadable or invalid files are one clear error."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RestorekitError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RestorekitError(f"{path}: invalid TOML: {exc}") from None
