"""Start the server: check the bind address, the TLS pair and the clients, then run uvicorn."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from pathlib import Path

from ledger.errors import InputError
from ledger.serve import clients as client_registry
from ledger.serve.app import ServeConfig, build_app
from ledger.store import db, serving


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to is a loopback address."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise InputError(f"cannot resolve host {host!r}: {exc}") from exc
    return all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def check_bind(host: str, allow_remote: bool) -> None:
    if not allow_remote and not is_loopback(host):
        raise InputError(
            f"refusing to bind {host}, which is not a loopback address; partners normally "
            "reach the server through a TLS reverse proxy on the same machine. Pass "
            "--allow-remote to bind it anyway"
        )


def check_tls(cert: Path | None, key: Path | None) -> None:
    if (cert is None) != (key is None):
        raise InputError("--tls-cert and --tls-key go together")
    if cert is not None and key is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise InputError(f"cannot load the TLS pair {cert} / {key}: {exc}") from exc


def prepare(
    db_url: str,
    clients_file: Path,
    *,
    host: str,
    base_url: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    allow_remote: bool,
) -> ServeConfig:
    """Everything that can fail before the server starts, failing with a LedgerError."""
    check_bind(host, allow_remote)
    check_tls(tls_cert, tls_key)
    if not clients_file.is_file():
        raise InputError(
            f"{clients_file}: no such clients file; register one with "
            f"`carbon-ledger client add CLIENT_ID --clients {clients_file}`"
        )
    registered = client_registry.load(clients_file)
    if base_url is not None:
        client_registry.check_events_url(base_url)
    engine = db.make_engine(db_url)
    with db.reading(engine):
        pass  # refuses a database without a ledger schema, with the store's message
    serving.ensure_pcf_table(engine)
    return ServeConfig(engine=engine, clients=registered, base_url=base_url)


def run(
    config: ServeConfig,
    *,
    host: str,
    port: int,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> None:
    import uvicorn

    uvicorn.run(
        build_app(config),
        host=host,
        port=port,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        log_level="info",
        access_log=False,  # the reverse proxy keeps the access log; errors are still logged
    )
