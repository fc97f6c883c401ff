"""`binwatch serve [--host] [--port]`: migrate the database, then run the service (uvicorn).

Settings come from `BINWATCH_` environment variables or `.env`; with none set it runs in
development mode on SQLite under ./binwatch-data."""

from __future__ import annotations

import argparse

DESCRIPTION = __doc__.split("\n\n")[0] if __doc__ else ""
SHUTDOWN_GRACE_S = 20


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes (they share the database)"
    )


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.db.migrate import upgrade
    from api.settings_cli import load_settings

    if args.workers < 1:
        raise SystemExit("binwatch serve: --workers must be 1 or more")
    settings = load_settings()
    app = create_app(settings)  # refuses a missing bucket, names it
    upgrade(app.state.engine)  # once, before any worker starts
    print(f"binwatch service ({settings.mode.value}) on http://{args.host}:{args.port}")
    print(f"database: {app.state.engine.url.render_as_string(hide_password=True)}")
    print(f"files: {settings.storage_url or settings.data_dir.resolve()}")
    # on SIGTERM, requests in flight get SHUTDOWN_GRACE_S to finish; a stuck one cannot hold a
    # restart (systemd, a deploy) forever
    common = {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_S,
    }
    if args.workers == 1:
        uvicorn.run(app, **common)
    else:  # each worker process builds its own app from the same environment
        app.state.engine.dispose()
        uvicorn.run("api.app:create_app", factory=True, workers=args.workers, **common)
    return 0
