"""`orchestrator`: whatever happens, one JSON object on stdout and a meaningful exit code."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stdout

from orchestrator_cli.errors import CliError, InternalError, InvalidArguments
from orchestrator_cli.output import Outcome, failure, success


def run(argv: list[str]) -> Outcome:
    """Run one invocation; anything written to stdout on the way (help text) is captured."""
    captured = io.StringIO()
    try:
        with redirect_stdout(captured):
            import typer
            from typer.main import get_command

            from orchestrator_cli.app import app

            command = get_command(app)
            try:
                result = command.main(args=argv, prog_name="orchestrator", standalone_mode=False)
            except typer.Abort:
                raise InternalError("aborted") from None
            except CliError:
                raise
            except Exception as exc:
                # Typer vendors click's exceptions privately; they are known by their interface.
                if not hasattr(exc, "format_message"):
                    raise
                ctx = getattr(exc, "ctx", None)
                usage = ctx.get_usage() if ctx is not None else None
                raise InvalidArguments(exc.format_message(), {"usage": usage}) from None
    except CliError as exc:
        return failure(exc)
    except Exception as exc:
        import traceback

        traceback.print_exc(file=sys.stderr)
        return failure(InternalError(f"{type(exc).__name__}: {exc}"))
    if isinstance(result, Outcome):
        return result
    return success({"help": captured.getvalue()}, "help")


def main() -> None:
    outcome = run(sys.argv[1:])
    sys.stdout.write(outcome.render() + "\n")
    sys.stdout.flush()
    sys.exit(outcome.exit_code)


if __name__ == "__main__":
    main()
