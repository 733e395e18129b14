"""The `sorakit` command: one Typer app, one module per command group."""

from __future__ import annotations

import sys

import click
import typer

# Typer 0.29 raises its own copy of click's exceptions; both kinds are caught below.
from typer._click.exceptions import ClickException as TyperClickException

from sorakit.cli import (
    batch,
    budgets,
    catalog_admin,
    images,
    jobs,
    keys,
    mcp,
    media,
    models,
    pipelines,
    pools,
    serve,
    storyboard,
    studio,
    videos,
)
from sorakit.cli.common import honest_flags
from sorakit.cli.errors import INTERRUPTED, exit_code, one_line
from sorakit.errors import SorakitError

app = typer.Typer(
    name="sorakit",
    help="The Sora Videos API, kept alive: make videos on today's models, or offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
videos.register(app)
images.register(app)
pipelines.register(app)
storyboard.register(app)
batch.register(app)
app.add_typer(jobs.app)
app.add_typer(keys.app)
app.command()(keys.usage)
app.add_typer(budgets.app)
app.add_typer(pools.app)
app.add_typer(catalog_admin.aliases_app)
app.add_typer(catalog_admin.prices_app)
models.register(app)
serve.register(app)
studio.register(app)
mcp.register(app)
app.add_typer(media.app)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; errors become one line on stderr and a meaningful exit code."""
    command = typer.main.get_command(app)
    honest_flags(command)
    try:
        code = command.main(args=argv, prog_name="sorakit", standalone_mode=False)
    except SorakitError as exc:
        typer.echo(one_line(exc), err=True)
        sys.exit(exit_code(exc))
    except (KeyboardInterrupt, click.exceptions.Abort, typer.Abort):
        code = INTERRUPTED
    except (click.exceptions.ClickException, TyperClickException) as exc:
        exc.show()
        sys.exit(exc.exit_code)
    if code == INTERRUPTED:  # Typer turns Ctrl-C into this code itself
        typer.echo(
            "sorakit: interrupted; unfinished jobs stay in the ledger, "
            "`sorakit jobs resume` finishes them",
            err=True,
        )
    sys.exit(code if isinstance(code, int) else 0)
