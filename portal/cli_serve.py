"""``opendata serve`` and ``opendata worker``: the web server with its job worker, and the
job worker alone."""

import errno

import click

from portal.cli import Context, SettingOption, pass_ready_context


def _log_to_console() -> None:
    """Warnings of every library, and what the harvesters do, on the console."""
    import logging

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("harvesters").setLevel(logging.INFO)


def _stop_queue_worker(queue_worker) -> None:
    if not queue_worker.stop():
        click.echo(
            "A harvest was still running; its job is resumed by a worker once its lease lapses."
        )


def _interrupt(_signal_number, _frame) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option(
    "--host",
    type=SettingOption("host"),
    help="Address to listen on.  [default: OPENDATA_HOST, else 127.0.0.1]",
)
@click.option(
    "--port", type=SettingOption("port"), help="Port to listen on.  [default: PORT, else 5000]"
)
@click.option("--threads", default=8, show_default=True, help="Worker threads of the server.")
@click.option(
    "--debug",
    is_flag=True,
    help="Flask's development server instead, with its in-browser debugger; no reloader "
    "(it would run the job worker twice), so code changes need a restart.",
)
@pass_ready_context
def serve(context: Context, host: str | None, port: int | None, threads: int, debug: bool) -> None:
    """Serve the portal (waitress, a production WSGI server). With OPENDATA_EMBEDDED_WORKER
    on (the default) it also runs the job worker, so harvests run with no second command.
    Refuses an instance whose database `opendata init` has not created or upgraded."""
    import signal

    from harvesters.tasks import QueueWorker
    from portal.app import create_app
    from portal.indexing import OutboxDrainer

    host = host or context.settings.host
    port = port or context.settings.port
    _log_to_console()
    app = create_app(context.settings, context.backends)
    # Listening first: a port in use stops the command before any worker starts.
    server = None if debug else _listen(app, host, port, threads)
    drainer = OutboxDrainer(context.backends)
    queue_worker = None
    if context.settings.embedded_worker:
        queue_worker = QueueWorker(app.extensions["opendata.jobs"])
    # SIGTERM stops the server the way Ctrl-C does, so both end the worker cleanly.
    signal.signal(signal.SIGTERM, _interrupt)
    drainer.start()
    if queue_worker is not None:
        queue_worker.start()
        click.echo("Job worker running beside the web server.")
    try:
        if debug:
            app.run(host=host, port=port, debug=True, use_reloader=False)
            return
        click.echo(f"Serving {context.settings.site_name} on http://{host}:{port}/")
        server.run()
    finally:
        drainer.stop()
        if queue_worker is not None:
            _stop_queue_worker(queue_worker)
        click.echo("Stopped.")


def _listen(app, host: str, port: int, threads: int):
    """A waitress server bound to host and port, or a clear error saying why it cannot be."""
    from waitress import create_server

    try:
        return create_server(app, host=host, port=port, threads=threads, ident="opendata")
    except (OSError, ValueError) as error:
        # waitress turns a host name it cannot resolve into a ValueError of its own.
        cause = error.__context__ if isinstance(error.__context__, OSError) else error
        if getattr(cause, "errno", None) == errno.EADDRINUSE:
            reason = f"port {port} is in use"
        else:
            reason = getattr(cause, "strerror", None) or str(cause)
        raise click.ClickException(f"cannot listen on {host}:{port}: {reason}") from error


@click.command()
@click.option("--interval", default=2.0, show_default=True, help="Seconds between rounds.")
@click.option(
    "--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Job threads."
)
@pass_ready_context
def worker(context: Context, interval: float, workers: int) -> None:
    """Run the background work: harvest jobs and their schedules from the job queue, and
    indexing of catalog changes from the outbox. `opendata serve` runs one beside the web
    server; run this where the web tier has several processes, or on other machines.
    Refuses, as serve does, an instance whose database `opendata init` has not created."""
    import signal
    import threading

    from harvesters.tasks import JobQueue, QueueWorker
    from portal.indexing import OutboxDrainer

    _log_to_console()
    drainer = OutboxDrainer(context.backends, interval=interval)
    queue = JobQueue.from_settings(context.settings, context.backends)
    queue_worker = QueueWorker(queue, workers=workers)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    queue_shown = dict(context.settings.describe())["queue_url"]  # without its password
    click.echo(
        f"Worker running: {workers} job threads on {queue_shown}; indexing catalog changes "
        f"every {interval:g} s."
    )
    drainer.start()
    queue_worker.start()
    try:
        while not stopping.wait(1.0) and drainer.is_alive():
            pass
    except KeyboardInterrupt:
        pass
    drainer.stop()
    _stop_queue_worker(queue_worker)
    click.echo("Worker stopped.")
