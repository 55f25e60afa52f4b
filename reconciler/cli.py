"""The `dxorg` command line: options in, one library call, output, exit code.

This is the only module that knows about typer, and `main()` is the one error
boundary: DxorgError -> message on stderr, exit 1; Ctrl-C -> 130. A traceback
means a bug in dxorg, never a user mistake.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from reconciler.errors import DxorgError, ManifestError

app = typer.Typer(
    name="dxorg",
    help="Declarative GitOps reconciler for DNAnexus Platform organizations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
emulator_app = typer.Typer(help="The local emulator of the DNAnexus API.", no_args_is_help=True)
app.add_typer(emulator_app, name="emulator")


@emulator_app.command("serve")
def emulator_serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8124,
    state: Annotated[Path, typer.Option(help="SQLite state file.")] = Path("sandbox.db"),
    seed: Annotated[
        Path | None, typer.Option(help="Seed YAML, loaded only into an empty state.")
    ] = None,
    reset: Annotated[bool, typer.Option(help="Wipe the state and load the seed again.")] = False,
    control_token: Annotated[
        str | None,
        typer.Option(
            envvar="DXORG_EMULATOR_CONTROL_TOKEN",
            help="Token for the /_emulator control endpoints (default: generated, written to the state dir).",
        ),
    ] = None,
) -> None:
    """Serve the emulated DNAnexus API over HTTP until interrupted."""
    from reconciler.emulator.server import serve_forever

    serve_forever(
        host=host,
        port=port,
        state_path=state,
        seed_path=seed,
        reset=reset,
        control_token=control_token,
    )


@app.command("validate")
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Manifest files or directories.")],
) -> None:
    """Check manifests against the schema and each other; contacts nothing."""
    from reconciler.manifest import load_fleet

    fleet = load_fleet(paths)
    typer.echo(f"OK: {len(fleet.orgs)} org(s) in {len(fleet.files)} file(s)")


def main() -> None:
    try:
        app(standalone_mode=False)
    except ManifestError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"{len(exc.problems)} problem(s) found", err=True)
        sys.exit(1)
    except DxorgError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except Exception as exc:  # click usage errors arrive here in standalone_mode=False
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
