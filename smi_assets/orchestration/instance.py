"""Which Dagster instance (run, event-log and schedule storage) the project runs on.

One setting chooses it: ``SMI_INSTANCE=sqlite`` (default: SQLite files in ``DAGSTER_HOME``,
one machine) or ``SMI_INSTANCE=postgres`` (PostgreSQL at ``SMI_POSTGRES_URL``, shared by the
webserver, the daemon and every worker). `prepare_dagster_home` writes the chosen template
into a home folder and, for PostgreSQL, checks that the server answers, so a server that is
down fails at start with the service and the setting named rather than deep in a run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from smi_assets.common.errors import ServiceUnavailableError
from smi_assets.common.storage import write_text_atomic

INSTANCE_SETTING = "SMI_INSTANCE"
POSTGRES_URL_SETTING = "SMI_POSTGRES_URL"
# dagster-postgres speaks psycopg2, and SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3.
POSTGRES_SCHEME = "postgresql+psycopg2://"
TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "dagster_home"
TEMPLATES = {
    "sqlite": TEMPLATE_DIR / "dagster.yaml",
    "postgres": TEMPLATE_DIR / "dagster.postgres.yaml",
}


def instance_kind(environ: Mapping[str, str] = os.environ) -> str:
    """The instance kind the environment asks for (``SMI_INSTANCE``, default ``sqlite``)."""
    return environ.get(INSTANCE_SETTING, "").strip().lower() or "sqlite"


def instance_template(kind: str) -> Path:
    """The instance settings file (dagster.yaml) for `kind`."""
    if kind not in TEMPLATES:
        raise ValueError(f"{INSTANCE_SETTING}={kind!r} is not an instance kind; use one of {sorted(TEMPLATES)}")
    return TEMPLATES[kind]


def prepare_dagster_home(home: str | Path, kind: str, environ: Mapping[str, str] = os.environ) -> Path:
    """Make `home` a DAGSTER_HOME for `kind` and return it.

    The template is written when the home has no dagster.yaml or has one of the project's
    templates unchanged (so switching kinds works); a dagster.yaml the user edited is kept.
    For ``postgres`` the server at ``SMI_POSTGRES_URL`` must answer.
    """
    template = instance_template(kind)
    if kind == "postgres":
        check_postgres(postgres_url(environ))
    home = Path(home).resolve()
    target = home / "dagster.yaml"
    ours = {path.read_text(encoding="utf-8") for path in TEMPLATES.values()}
    if not target.exists() or target.read_text(encoding="utf-8") in ours:
        write_text_atomic(template.read_text(encoding="utf-8"), target)
    return home


def postgres_url(environ: Mapping[str, str] = os.environ) -> str:
    url = environ.get(POSTGRES_URL_SETTING, "").strip()
    if not url:
        raise ValueError(f"{INSTANCE_SETTING}=postgres needs {POSTGRES_URL_SETTING}, e.g. {POSTGRES_SCHEME}user:password@host:5432/dagster")
    if not url.startswith(POSTGRES_SCHEME):
        raise ValueError(
            f"{POSTGRES_URL_SETTING} must start with {POSTGRES_SCHEME} (dagster-postgres needs the psycopg2 driver), not {urlsplit(url).scheme}://"
        )
    return url


def check_postgres(url: str, timeout_s: int = 5) -> None:
    """Raise `ServiceUnavailableError` unless a PostgreSQL server accepts a connection at `url`."""
    import psycopg2  # dagster-postgres brings it; only the postgres kind needs it

    # libpq takes the URL without SQLAlchemy's "+psycopg2" driver part.
    try:
        psycopg2.connect(url.replace(POSTGRES_SCHEME, "postgresql://", 1), connect_timeout=timeout_s).close()
    except psycopg2.OperationalError as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise ServiceUnavailableError("PostgreSQL", redact_password(url), POSTGRES_URL_SETTING, reason) from error


def redact_password(url: str) -> str:
    """`url` with its password replaced by ***, for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))

    return True
