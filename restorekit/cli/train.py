"""``restorekit train``: train a network from a TOML/YAML experiment config."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from restorekit.cli.state import get_state


@click.command("train")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value with a dotted key, e.g. --set train.lr=1e-4 "
                   "--set model.config.channels=32 (repeatable).")
@click.option("--resume", is_flag=True,
              help="Continue the run in train.out_dir from its last checkpoint (exactly where "
                   "it stopped); starts from step 0 if there is none.")
@click.option("--device", default=None, help="cpu, cuda, cuda:N, mps or auto "
              "(default: train.device from the config).")
@click.option("--print-config", is_flag=True,
              help="Print the resolved config (overrides applied) as TOML and exit.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or status lines.")
def train_command(config: str, overrides: tuple[str, ...], resume: bool, device: str | None,
                  print_config: bool, quiet: bool) -> int:
    """Train the network described by CONFIG (.toml, .yaml or .yml).

    Writes to train.out_dir (default runs/NAME): config.toml (the resolved config), log.csv,
    checkpoints/last.pt and best.pt, and at the end NAME.safetensors with its model card.
    Ctrl-C or SIGTERM saves a checkpoint before exiting; --resume continues bit-exactly.
    Multi-process: torchrun --standalone --nproc_per_node N -m restorekit train CONFIG.
    """
    from restorekit.train.config import config_to_dict, dump_toml, load_config
    from restorekit.train.trainer import Trainer

    state = get_state()
    quiet = quiet or state.quiet
    cfg = load_config(config, overrides, allow_empty=print_config)  # a template, if printed
    if print_config:
        click.echo(dump_toml(config_to_dict(cfg)), nl=False)
        return 0
    fmt = "yaml" if Path(config).suffix.lower() in (".yaml", ".yml") else "toml"
    trainer = Trainer(cfg, resume=resume, device=device, quiet=quiet, config_format=fmt)
    result = trainer.run()
    if not quiet and result.weights is not None and trainer.info.is_main:
        click.echo(str(result.weights), file=sys.stdout)
    return result.exit_code


COMMANDS = [train_command]
