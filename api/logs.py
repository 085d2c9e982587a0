"""Logging: the access log does not keep what a URL carries as a credential."""

import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that are credentials: the OAuth callback's code and state, the token of a link mailed
# (email verification, password reset) that opens a page.
SECRET_QUERY_PARAMETERS = frozenset({"code", "state", "token"})
REDACTED = "REDACTED"


def redacted_path(path: str) -> str:
    """path with the values of SECRET_QUERY_PARAMETERS replaced."""
    parts = urlsplit(path)
    if not parts.query:
        return path
    try:
        query = [
            (name, REDACTED if name in SECRET_QUERY_PARAMETERS else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
    except ValueError:
        return urlunsplit(parts._replace(query=REDACTED))
    return urlunsplit(parts._replace(query=urlencode(query)))


class RedactSecretQueries(logging.Filter):
    """For uvicorn's access log, whose records carry (client, method, path, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            if isinstance(path, str):
                record.args = (client, method, redacted_path(path), version, status)
        return True


def redact_access_log() -> None:
    """Installs the filter on uvicorn's access logger (once; after uvicorn has configured logging)."""
    access_log = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, RedactSecretQueries) for existing in access_log.filters):
        access_log.addFilter(RedactSecretQueries())
