"""trust.py: which files settings come from and what they may say (issue 17: the .env rules,
the key's direction, the loopback test by address, URLs without their password)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_orchestrator.config import resolve
from claude_orchestrator.errors import ConfigError
from claude_orchestrator.trust import (
    check_key_direction,
    in_git_work_tree,
    is_loopback_url,
    is_own_setting,
    is_safe_url,
    parse_dotenv,
    read_dotenv,
    shown_url,
    url_password,
)

KEY = "sk-or-v1-UNITTEST-trust-0123456789abcdef"


# ----------------------------------------------------------------------------- .env
def test_parse_dotenv_cases() -> None:
    text = "\n".join([
        "# a comment",
        "   # an indented comment",
        "",
        "A=1",
        "export B=\"two words\"",
        "C='x y' # note",
        "D=plain value # inline comment",
        "E=no#comment",
        "F=",
        "G = spaced ",
        'H="line\\nbreak"',
        "I='single # not a comment'",
        "not a line",
        "1BAD=x",
        "export   J=j",
        "K=a=b=c",
    ])
    assert parse_dotenv(text) == {
        "A": "1", "B": "two words", "C": "x y", "D": "plain value", "E": "no#comment",
        "F": "", "G": "spaced", "H": "line\nbreak", "I": "single # not a comment",
        "J": "j", "K": "a=b=c",
    }


def test_parse_dotenv_escaped_quote_inside_double_quotes() -> None:
    # the parser unescapes \" but must not take an escaped quote for the closing one
    assert parse_dotenv('MSG="say \\"hi\\" now"') == {"MSG": 'say "hi" now'}


def test_parse_dotenv_crlf() -> None:
    assert parse_dotenv("A=1\r\nB='2'\r\n") == {"A": "1", "B": "2"}


def test_read_dotenv_fills_only_unset(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("CLAUDE_CMD=from-file\nMAX_ITERATIONS=from-file\nAUTONOMOUS_MODE=f\n")
    environ = {"CLAUDE_CMD": "already", "AUTONOMOUS_MODE": ""}
    read_dotenv(environ, env_file)
    assert environ == {"CLAUDE_CMD": "already", "MAX_ITERATIONS": "from-file",
                       "AUTONOMOUS_MODE": ""}


def test_read_dotenv_missing_file_is_fine(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    read_dotenv(environ, tmp_path / ".env")
    assert environ == {}


def test_read_dotenv_unreadable_is_config_error(tmp_path: Path) -> None:
    # a directory named .env cannot be read: a ConfigError, not a traceback
    (tmp_path / ".env").mkdir()
    with pytest.raises(ConfigError):
        read_dotenv({}, tmp_path / ".env")


# ----------------------------------------------------------------------------- what a .env sets
def test_read_dotenv_takes_only_the_tools_settings(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("HTTPS_PROXY=http://evil:8080\nLD_PRELOAD=./lib.so\n"
                        "SSL_CERT_FILE=./ca.pem\nCLAUDE_ORCHESTRATOR_MAX_COST=3\n"
                        "CLAUDE_ORCHESTRATOR_=x\nOPENROUTER_MODEL=m/x\n")
    environ: dict[str, str] = {}
    got = read_dotenv(environ, env_file)
    assert environ == {"CLAUDE_ORCHESTRATOR_MAX_COST": "3", "OPENROUTER_MODEL": "m/x"}
    assert got.taken == ("CLAUDE_ORCHESTRATOR_MAX_COST", "OPENROUTER_MODEL")
    assert got.ignored == ("HTTPS_PROXY", "LD_PRELOAD", "SSL_CERT_FILE", "CLAUDE_ORCHESTRATOR_")


@pytest.mark.parametrize("name", ["CLAUDE_TMUX_SESSION", "CLAUDE_TMUX_SOCKET", "CLAUDE_CMD",
                                  "TERMINATE_WHEN_QUIT", "AUTONOMOUS_MODE", "OPENROUTER_API_KEY",
                                  "OPENROUTER_MODEL", "MAX_ITERATIONS", "OPENROUTER_BASE_URL",
                                  "OPENROUTER_API_KEY_FILE", "CLAUDE_ORCHESTRATOR_VERIFY"])
def test_the_seeds_names_and_ours_are_settings(name: str) -> None:
    assert is_own_setting(name)


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "http_proxy", "LD_PRELOAD", "SSL_CERT_FILE",
                                  "PATH", "PYTHONPATH", "ANTHROPIC_BASE_URL", "GIT_SSH_COMMAND",
                                  "REQUESTS_CA_BUNDLE", "CLAUDE_CONFIG_DIR"])
def test_process_variables_are_not_settings(name: str) -> None:
    assert not is_own_setting(name)


def test_a_link_is_refused_even_to_the_users_own_file(tmp_path: Path) -> None:
    own = tmp_path / "mine.env"
    own.write_text("OPENROUTER_MODEL=m/x\n")
    (tmp_path / ".env").symlink_to(own)
    with pytest.raises(ConfigError, match="is a link"):
        read_dotenv({}, tmp_path / ".env")


def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / ".env")
    with pytest.raises(ConfigError, match="not a regular file"):
        read_dotenv({}, tmp_path / ".env")


def test_writable_by_others_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("OPENROUTER_MODEL=m/x\n")
    (tmp_path / ".env").chmod(0o620)
    with pytest.raises(ConfigError, match="chmod go-w"):
        read_dotenv({}, tmp_path / ".env")


# ----------------------------------------------------------------------------- the key's direction
@pytest.mark.parametrize(("sources", "dotenv", "key_file", "refused"), [
    ({"base_url": "OPENROUTER_BASE_URL"}, {"OPENROUTER_BASE_URL"}, False, True),
    ({"base_url": "OPENROUTER_BASE_URL"}, {"OPENROUTER_BASE_URL", "OPENROUTER_API_KEY"}, False,
     False),
    # the .env's key, but a key file of the person's in use: the .env's URL would take it
    ({"base_url": "OPENROUTER_BASE_URL", "api_key_file": "--api-key-file"},
     {"OPENROUTER_BASE_URL", "OPENROUTER_API_KEY"}, True, True),
    ({"api_key_file": "OPENROUTER_API_KEY_FILE"}, {"OPENROUTER_API_KEY_FILE"}, True, True),
    ({"api_key_file": "OPENROUTER_API_KEY_FILE"},
     {"OPENROUTER_API_KEY_FILE", "OPENROUTER_API_KEY"}, True, True),
    ({"base_url": "--base-url"}, {"OPENROUTER_BASE_URL"}, False, False),  # the flag wins
    ({"base_url": "OPENROUTER_BASE_URL"}, set(), False, False),  # the person's environment
])
def test_only_the_person_directs_their_key(sources: dict[str, str], dotenv: set[str],
                                           key_file: bool, refused: bool) -> None:
    if refused:
        with pytest.raises(ConfigError, match="refusing"):
            check_key_direction(sources, dotenv, key_file)
    else:
        check_key_direction(sources, dotenv, key_file)


def test_resolve_refuses_a_dotenv_key_file_before_reading_it(tmp_path: Path) -> None:
    secret = tmp_path / "credentials"
    secret.write_text("https://me:ghp_GITCREDENTIAL@github.com\n")
    with pytest.raises(ConfigError, match=r"OPENROUTER_API_KEY_FILE from \./\.env"):
        resolve({}, {"OPENROUTER_API_KEY_FILE": str(secret), "OPENROUTER_API_KEY": KEY},
                workdir=str(tmp_path), from_dotenv=["OPENROUTER_API_KEY_FILE"])


# ----------------------------------------------------------------------------- loopback, by address
@pytest.mark.parametrize("url", [
    "http://127.0.0.1/v1", "http://127.1.2.3:8080/v1", "http://[::1]:9/v1", "http://localhost/v1",
    "http://LOCALHOST:1/v1", "http://localhost./v1", "http://[::ffff:127.0.0.1]/v1",
    "http://\u217cocalhost/v1",  # IDNA maps the small roman numeral fifty to "l"
])
def test_loopback(url: str) -> None:
    assert is_loopback_url(url)


@pytest.mark.parametrize("url", [
    "http://127.attacker.example/v1", "http://127.0.0.1.attacker.example/v1",
    "http://localhost.attacker.example/v1", "http://attacker.example/127.0.0.1",
    "http://127.0.0.1@attacker.example/v1", "http://[::2]/v1", "http://0x7f000001/v1",
    "http://2130706433/v1", "http://128.0.0.1/v1", "http:///v1", "not a url",
])
def test_not_loopback(url: str) -> None:
    assert not is_loopback_url(url)


@given(st.from_regex(r"\A127\.[a-z0-9-]{1,12}(\.[a-z0-9-]{1,12}){0,3}\Z"))
def test_a_name_starting_127_is_not_loopback(host: str) -> None:
    """A host counts only as an address: a name that merely starts with 127 never does."""
    if not all(label.isdigit() for label in host.split(".")):
        assert not is_loopback_url(f"http://{host}/v1")


def test_safe_url() -> None:
    assert is_safe_url("https://anything.example/v1")
    assert not is_safe_url("http://127.attacker.example/v1")


# ----------------------------------------------------------------------------- userinfo
def test_a_password_in_the_base_url_is_never_stored_or_shown(tmp_path: Path) -> None:
    url = "https://me:pa55-w0rd-secret@gw.example/v1"
    assert url_password(url) == "pa55-w0rd-secret"
    assert shown_url(url) == "https://[REDACTED]@gw.example/v1"
    config = resolve({"base_url": url}, {"OPENROUTER_API_KEY": KEY}, workdir=str(tmp_path))
    assert config.base_url == url  # used as given ...
    assert "pa55" not in str(config.public_settings())  # ... stored without it


def test_in_git_work_tree(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    assert not in_git_work_tree(tmp_path / "plain" / "tasks.toml")
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    assert in_git_work_tree(repo / "sub" / "tasks.toml")
