"""Partner-facing commands: client add, serve (SPEC §8, §10)."""

from __future__ import annotations

from pathlib import Path

import click

from ledger_cli.app import Ctx, cli, emit, pass_ctx


@cli.group()
def client() -> None:
    """PACT API clients (partners) allowed to call `serve`."""


@client.command("add")
@click.argument("client_id")
@click.option(
    "--clients",
    "clients_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The clients file (created 0600 if missing); it keeps only salted hashes.",
)
@click.option(
    "--events-url",
    help="Base URL of the partner's own PACT API: events for it are POSTed to URL/3/events "
    "(answers to its requests, PublishedEvent notifications).",
)
@pass_ctx
def client_add_cmd(obj: Ctx, client_id: str, clients_file: Path, events_url: str | None) -> None:
    """Register CLIENT_ID and print its secret once (it is not stored, only its hash).

    \b
    Example:  carbon-ledger client add acme-platform --clients clients.json
    """
    from ledger.serve.clients import add_client

    secret = add_client(clients_file, client_id, events_url)
    emit(
        obj,
        {"client_id": client_id, "client_secret": secret},
        f"client_id:     {client_id}\nclient_secret: {secret}\n"
        "Give the secret to the partner now: it is not stored and cannot be shown again.",
    )


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to bind.")
@click.option(
    "--base-url",
    help="Public origin partners and phones use (https://HOST), for event sources, label "
    "links and QR codes; default: the request's own origin.",
)
@click.option(
    "--clients",
    "clients_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Clients file written by `client add`.",
)
@click.option(
    "--tls-cert", type=click.Path(path_type=Path, dir_okay=False), help="PEM certificate."
)
@click.option("--tls-key", type=click.Path(path_type=Path, dir_okay=False), help="PEM private key.")
@click.option(
    "--allow-remote", is_flag=True, help="Allow binding a non-loopback address (default: refuse)."
)
@pass_ctx
def serve_cmd(
    obj: Ctx,
    host: str,
    port: int,
    base_url: str | None,
    clients_file: Path,
    tls_cert: Path | None,
    tls_key: Path | None,
    allow_remote: bool,
) -> None:
    """Serve the PACT v3 API, label pages, /verify and the log as C2SP tiles.

    \b
    Endpoints:  POST /auth/token, GET /3/footprints[/{id}], POST /3/events,
                /labels/{product_id}[.json]?from=&to=, /verify, /checkpoint,
                /tile/<L>/<N>[.p/<W>], /tile/entries/<N>[.p/<W>],
                /schemas/pact-extensions/carbon-ledger-stages/1.0.0/schema.json
    \b
    Example:  carbon-ledger serve --clients clients.json --port 8443 \\
                --tls-cert cert.pem --tls-key key.pem
    """
    from ledger.serve import runner

    config = runner.prepare(
        obj.db_url,
        clients_file,
        host=host,
        base_url=base_url,
        tls_cert=tls_cert,
        tls_key=tls_key,
        allow_remote=allow_remote,
    )
    runner.run(config, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key)
