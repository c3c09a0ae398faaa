"""Which files the tool takes settings from, and what such a file may say (SECURITY.md, "What a
`.env` or a tasks file may set").

A `.env` comes with a cloned repository as easily as with the person's own folder, and a batch's
tasks file can too. So:
- a file is read only when it is a regular file (not a link, not a FIFO), owned by the user and
  writable by no one else (`open_own_file`);
- a `.env` sets only the tool's own settings (the seed's variables and `CLAUDE_ORCHESTRATOR_*`);
  other names are not taken, and one line names them (`read_dotenv`);
- only the person (their environment, their flags) says where the key goes, unless a `.env`
  holds the key itself, which makes it that folder's own key (`check_key_direction`); even
  then a `.env` never names a key file (the file would be read and sent as the key);
- a plain-http URL is used for a key from a file only when its host is this machine
  (`is_loopback_url`, by address after IDNA, never by prefix).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import stat
import urllib.parse
from collections.abc import Collection, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from claude_orchestrator.errors import ConfigError
from claude_orchestrator.process import SECRET_ENV

KEY_DIRECTIONS = ("OPENROUTER_BASE_URL", "OPENROUTER_API_KEY_FILE")
# The seed's variables, and the two this tool adds to reach the supervisor.
SEED_NAMES = frozenset({
    "CLAUDE_TMUX_SESSION", "CLAUDE_TMUX_SOCKET", "CLAUDE_CMD", "TERMINATE_WHEN_QUIT",
    "AUTONOMOUS_MODE", "OPENROUTER_API_KEY", "OPENROUTER_MODEL", "MAX_ITERATIONS",
    *KEY_DIRECTIONS,
})
OWN_PREFIX = "CLAUDE_ORCHESTRATOR_"
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_SETTINGS_FILE = 1 << 20  # a settings file is small; a bigger one is a mistake or a trap


def is_own_setting(name: str) -> bool:
    """Whether a `.env` may set `name`: one of the tool's own settings.

    >>> [is_own_setting(n) for n in ('CLAUDE_CMD', 'CLAUDE_ORCHESTRATOR_VERIFY', 'HTTPS_PROXY')]
    [True, True, False]
    """
    return name in SEED_NAMES or (name.startswith(OWN_PREFIX) and len(name) > len(OWN_PREFIX))


# ----------------------------------------------------------------------------- files
def open_own_file(path: Path, what: str) -> bytes:
    """The bytes of a settings file that is the user's own: a regular file (a link, even to the
    user's own file, is refused, and a FIFO never blocks), owned by the user, writable by no
    one else. Raises ConfigError (exit 2) with one line saying which and how to fix it.
    FileNotFoundError goes to the caller (a missing optional file is fine)."""
    label = f"{what} {path}" if what else str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise
    except OSError as e:
        if e.errno == errno.ELOOP:  # the name itself is a link
            raise ConfigError(f"refusing {label}: it is a link (name the file itself)"
                              ) from None
        raise ConfigError(f"cannot read {label}: {e.strerror}") from None
    try:
        problem = file_problem(os.fstat(fd))
        if problem:
            fix = f"; fix it with: chmod go-w {path}" if "write" in problem else ""
            raise ConfigError(f"refusing {label}: {problem}{fix}")
        data = b""
        while len(data) <= MAX_SETTINGS_FILE:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            data += chunk
        if len(data) > MAX_SETTINGS_FILE:
            raise ConfigError(f"refusing {label}: larger than {MAX_SETTINGS_FILE >> 10} KiB")
        return data
    except OSError as e:
        raise ConfigError(f"cannot read {label}: {e.strerror}") from None
    finally:
        os.close(fd)


def file_problem(info: os.stat_result, uid: int | None = None) -> str:
    """Why a file is not the user's own to take settings from ("" when it is)."""
    uid = os.getuid() if uid is None else uid
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file"
    if info.st_uid != uid:
        return f"it belongs to uid {info.st_uid}, not to you"
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022:
        return f"others may write it (mode {mode:o})"
    return ""


def in_git_work_tree(path: Path) -> bool:
    """Whether `path` lies inside a git work tree (a file there may have come with a clone):
    a `.git` folder or file in one of its folders. No git process is started."""
    folder = path.resolve().parent
    return any((parent / ".git").exists() for parent in (folder, *folder.parents))


# ----------------------------------------------------------------------------- .env
@dataclass(frozen=True)
class Dotenv:
    """What a `.env` gave: the names it set (not set before), and the names it holds that are
    not the tool's settings (not taken)."""

    taken: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()


def parse_dotenv(text: str) -> dict[str, str]:
    """`KEY=VALUE` lines; `#` comments, `export `, single or double quotes.

    >>> parse_dotenv('A=1\\n# c\\nexport B="two words"\\nC=\\'x y\\' # note')
    {'A': '1', 'B': 'two words', 'C': 'x y'}
    """
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _ENV_NAME_RE.match(key):
            continue
        value = value.strip()
        if value[:1] == "'":
            end = value.find("'", 1)
            value = value[1:end] if end > 0 else value[1:]
        elif value[:1] == '"':
            m = re.match(r'"((?:[^"\\]|\\.)*)"', value)
            body = m.group(1) if m else value[1:]
            value = re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n" else e.group(1), body)
        else:
            value = re.sub(r"\s+#.*$", "", value)
        out[key] = value
    return out


def read_dotenv(environ: MutableMapping[str, str], path: Path) -> Dotenv:
    """Fill the tool's own settings not already set from a `.env` file, as the seed does.

    Only the user's own file is read (`open_own_file`). Names that are not the tool's settings
    (`HTTPS_PROXY`, `LD_PRELOAD`, `SSL_CERT_FILE`...) are never set: they would reach every
    process the tool starts."""
    try:
        data = open_own_file(path, "")
    except FileNotFoundError:
        return Dotenv()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    taken, ignored = [], []
    for key, value in parse_dotenv(text).items():
        if not is_own_setting(key):
            ignored.append(key)
        elif key not in environ:
            environ[key] = value
            taken.append(key)
    return Dotenv(tuple(taken), tuple(ignored))


def check_key_direction(sources: Mapping[str, str], from_dotenv: Collection[str],
                        key_file_in_use: bool) -> None:
    """A `.env` may say where the key goes only when the key in use is its own.

    `sources` maps `base_url` and `api_key_file` to the variable or flag their value came from.
    Raises ConfigError naming what to do."""
    key_from_dotenv = SECRET_ENV in from_dotenv
    if sources.get("api_key_file") in from_dotenv:
        if key_from_dotenv:
            raise ConfigError("refusing ./.env: it holds OPENROUTER_API_KEY and names "
                              "OPENROUTER_API_KEY_FILE; a .env may hold its key, never name a "
                              "file to read it from (remove one of the two)")
        raise ConfigError("refusing OPENROUTER_API_KEY_FILE from ./.env: only your environment "
                          "or flags say where the supervisor's key comes from (export "
                          "OPENROUTER_API_KEY_FILE=... or --api-key-file ...)")
    if sources.get("base_url") in from_dotenv and (not key_from_dotenv or key_file_in_use):
        raise ConfigError("refusing OPENROUTER_BASE_URL from ./.env: your key goes only where "
                          "your environment or flags say (export OPENROUTER_BASE_URL=... or "
                          "--base-url ...); a .env may name a URL only for the key it holds "
                          "itself")


# ----------------------------------------------------------------------------- URLs
def url_host(url: str) -> str:
    """The URL's host as the client will look it up: lower case, IDNA-encoded (`ⅼocalhost`
    is `localhost`), brackets and one final dot removed ("" when there is none or it does not
    encode)."""
    try:
        host = urllib.parse.urlsplit(url).hostname or ""
    except ValueError:
        return ""
    host = host.rstrip(".") if host.endswith(".") and not host.endswith("..") else host
    try:
        ipaddress.ip_address(host)
        return host.lower()
    except ValueError:
        pass
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return ""


def is_loopback_url(url: str) -> bool:
    """Whether the URL's host is this machine: an address in 127.0.0.0/8 or ::1 (an IPv4 one
    mapped into IPv6 too), or `localhost` itself, compared after IDNA.

    >>> [is_loopback_url(u) for u in ('http://127.0.0.1:8080/v1', 'http://[::1]/v1',
    ...                               'http://localhost/v1', 'http://127.attacker.example/v1',
    ...                               'http://localhost.evil/v1', 'http://127.0.0.1@evil/v1')]
    [True, True, True, False, False, False]
    """
    host = url_host(url)
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def is_safe_url(url: str) -> bool:
    """https, or plain http to this machine (a local model server).

    >>> is_safe_url('https://openrouter.ai/api/v1'), is_safe_url('http://127.0.0.1:8080/v1')
    (True, True)
    >>> is_safe_url('http://collector.example/v1'), is_safe_url('http://127.evil.example/v1')
    (False, False)
    """
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    return scheme == "https" or (scheme == "http" and is_loopback_url(url))


def url_password(url: str) -> str:
    """The password in a URL's userinfo ("" when none): a secret to redact everywhere."""
    try:
        return urllib.parse.urlsplit(url).password or ""
    except ValueError:
        return ""


def shown_url(url: str) -> str:
    """The URL fit to store or show: its userinfo (`user:password@`) replaced.

    >>> shown_url('https://me:s3cret@gw.example/v1'), shown_url('https://gw.example/v1')
    ('https://[REDACTED]@gw.example/v1', 'https://gw.example/v1')
    """
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"[REDACTED]@{host}"))


RUNLOG_SCHEMES = ("postgresql", "postgres")


def is_runlog_url(text: str) -> bool:
    """Whether a `--runlog` value names a PostgreSQL database rather than a SQLite file.

    >>> is_runlog_url('postgresql://me@db:5432/runs'), is_runlog_url('~/runs.sqlite3')
    (True, False)
    """
    return text.split("://", 1)[0].lower() in RUNLOG_SCHEMES if "://" in text else False


def runlog_password(url: str) -> str:
    """The password a run log URL carries, in its userinfo or as `?password=` ("" if none).

    >>> runlog_password('postgresql://me:pw@db/runs'), runlog_password('postgres://db/r?password=x')
    ('pw', 'x')
    """
    if not is_runlog_url(url):
        return ""
    found = url_password(url)
    if found:
        return found
    try:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    except ValueError:
        return ""
    return (query.get("password") or [""])[0]


def shown_runlog(url: str) -> str:
    """A run log URL fit to show or store: the user kept, any password replaced.

    >>> shown_runlog('postgresql://me:s3cret@db:5432/runs?password=s3cret&sslmode=require')
    'postgresql://me:[REDACTED]@db:5432/runs?password=[REDACTED]&sslmode=require'
    >>> shown_runlog('postgresql://me@db/runs'), shown_runlog('/home/me/runs.sqlite3')
    ('postgresql://me@db/runs', '/home/me/runs.sqlite3')
    """
    if not is_runlog_url(url):
        return url
    secret = runlog_password(url)
    if not secret:
        return url
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = (user.split(":", 1)[0] + ":[REDACTED]" if ":" in user else user) + "@" + host
    query = re.sub(r"(^|&)password=[^&]*", r"\1password=[REDACTED]", parts.query)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))
