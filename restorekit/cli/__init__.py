"""The ``restorekit`` console command.

The CLI is thin: each subcommand (one module each) parses options, calls the public API and
prints. Errors from bad input become one line on stderr and a non-zero exit; ``--debug`` shows
the traceback instead. ``--debug`` and ``--quiet`` work before or after the subcommand.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from restorekit import __version__
from restorekit.cli.state import CliState
from restorekit.errors import RestorekitError

EXIT_FAILED = 1  # some inputs of a batch failed, or an internal error
EXIT_USAGE = 2  # bad command line or bad input


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or status lines.")
@click.version_option(__version__, prog_name="restorekit")
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: bool) -> None:
    """Restore damaged images: noise, missing regions, JPEG blocking, low resolution."""
    state = ctx.ensure_object(CliState)
    state.debug = state.debug or debug
    state.quiet = state.quiet or quiet


def _register() -> None:
    from restorekit.cli import (
        data,
        degrade,
        demo,
        downstream,
        evaluate,
        ground_truth,
        models,
        noise,
        reproduce,
        restore,
        serve,
        sweep,
        train,
    )

    for module in (restore, degrade, evaluate, noise, models, demo, data, train, sweep,
                   reproduce, serve, ground_truth, downstream):
        for command in module.COMMANDS:
            _note_global_options(command)
            cli.add_command(command)


def _note_global_options(command: click.Command) -> None:
    """End each subcommand's help (and its own subcommands') with the global flags, which
    :func:`main` also takes after the subcommand's name."""
    note = "Also: -q/--quiet (no progress bars or status lines), --debug (tracebacks)."
    command.epilog = f"{command.epilog}\n\n{note}" if command.epilog else note
    for sub in getattr(command, "commands", {}).values():
        _note_global_options(sub)


_register()


def _error(message: str) -> None:
    click.echo(f"restorekit: error: {message}", err=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and turn exceptions into exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    state = CliState(debug="--debug" in args, quiet=bool({"-q", "--quiet"} & set(args)))
    args = [a for a in args if a not in ("--debug", "-q", "--quiet")]
    try:
        rc = cli.main(args=args, prog_name="restorekit", standalone_mode=False, obj=state)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "restorekit"
        _error(f"{exc.format_message()} (see '{where} --help')")
        sys.exit(EXIT_USAGE)
    except click.Abort:
        _error("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        _error("interrupted")
        sys.exit(130)
    except RestorekitError as exc:
        if state.debug:
            raise
        _error(str(exc))
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        _error(exc.format_message())
        sys.exit(exc.exit_code)
    except MemoryError as exc:
        if state.debug:
            raise
        _error(f"not enough memory ({exc}); try smaller sizes (a patch, batch or tile size)")
        sys.exit(EXIT_FAILED)
    except Exception as exc:  # noqa: BLE001 - last resort: one line unless --debug
        if state.debug:
            raise
        _error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        sys.exit(EXIT_FAILED)
    sys.exit(rc if isinstance(rc, int) else 0)
