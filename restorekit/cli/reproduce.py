"""``restorekit reproduce``: re-run one of the five papers' experiments and write its report."""

from __future__ import annotations

import click

from restorekit.cli.state import get_state


@click.command("reproduce")
@click.argument("name", required=False)
@click.option("--budget", type=click.Choice(["quick", "full"]), default="quick", show_default=True,
              help="quick: under 10 minutes on 2 CPU cores; full: the committed reports "
                   "(under 2 hours).")
@click.option("--out", default="reports", show_default=True, type=click.Path(file_okay=False),
              help="Folder for NAME.md and its figures (NAME/).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of every random thing.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N, mps or auto.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a value of every training config the experiment loads, e.g. "
                   "--set data.kind=stl10 (repeatable; such runs get a work folder of their "
                   "own).")
@click.option("--list", "list_only", is_flag=True, help="List the experiments and exit.")
def reproduce_command(name: str | None, budget: str, out: str, seed: int, device: str,
                      overrides: tuple[str, ...], list_only: bool) -> int:
    """Run experiment NAME (see --list) and write OUT/NAME.md with its figures."""
    from restorekit.reproduce import get_experiment, list_experiments, run_experiment

    if list_only or name is None:
        if name is None and not list_only:
            raise click.UsageError("give an experiment NAME or --list")
        for exp_name in list_experiments():
            click.echo(f"{exp_name:22s} {get_experiment(exp_name).title}")
        return 0
    from restorekit.device import resolve_device

    get_experiment(name)  # an unknown name first, then an unusable device: before training
    resolve_device(device)
    state = get_state()
    path = run_experiment(name, budget=budget, out=out, seed=seed, device=device,  # type: ignore[arg-type]
                          quiet=state.quiet, overrides=overrides)
    click.echo(str(path))
    return 0


COMMANDS = [reproduce_command]
