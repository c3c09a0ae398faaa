"""config.py: the seed's defaults, precedence, validation errors, durations, `.env`, secrets."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from claude_orchestrator import config as cfg
from claude_orchestrator.config import (
    SECRET_ENV,
    SETTINGS,
    Config,
    ConfigError,
    find_executable,
    find_tmux,
    parse_bool,
    parse_duration,
    parse_int,
    resolve,
)

FAKE_KEY = "sk-or-v1-UNITTEST-fake-key-9f3c1e7a"
NPM_HINT = "claude not found on PATH: install it with npm install -g @anthropic-ai/claude-code"


def _resolve(tmp_path: Path, flags: dict[str, object] | None = None,
             env: dict[str, str] | None = None, **kw: object) -> Config:
    kw.setdefault("workdir", str(tmp_path))
    return resolve(flags or {}, env or {}, **kw)  # type: ignore[arg-type]


def _error(tmp_path: Path, flags: dict[str, object] | None = None,
           env: dict[str, str] | None = None, **kw: object) -> str:
    with pytest.raises(ConfigError) as info:
        _resolve(tmp_path, flags, env, **kw)
    message = str(info.value)
    assert message, "a ConfigError needs a message"
    assert "\n" not in message, f"not one line: {message!r}"
    return message


# ----------------------------------------------------------------------------- defaults
def test_defaults_equal_the_seeds(tmp_path: Path) -> None:
    c = _resolve(tmp_path)
    assert c.session == "gt-claude-loop"
    assert c.socket == "gt-claude-loop"
    assert c.claude_argv == ("claude", "--dangerously-skip-permissions", "--setting-sources",
                             "user")
    assert c.terminate_when_quit is False
    assert c.autonomous is True
    assert c.model == "anthropic/claude-opus-4.6"
    assert c.max_iterations == 0
    assert c.base_url == "https://openrouter.ai/api/v1"
    assert c.api_key is None
    assert c.workdir == tmp_path.resolve()


def test_setting_table_defaults_and_env_names() -> None:
    by_env = {s.env: s.default for s in SETTINGS}
    assert by_env["CLAUDE_TMUX_SESSION"] == "gt-claude-loop"
    assert by_env["CLAUDE_TMUX_SOCKET"] == "gt-claude-loop"
    assert by_env["CLAUDE_CMD"] == "claude --dangerously-skip-permissions --setting-sources user"
    assert by_env["TERMINATE_WHEN_QUIT"] == "false"
    assert by_env["AUTONOMOUS_MODE"] == "true"
    assert by_env["OPENROUTER_MODEL"] == "anthropic/claude-opus-4.6"
    assert by_env["MAX_ITERATIONS"] == "0"
    assert by_env["OPENROUTER_BASE_URL"] == "https://openrouter.ai/api/v1"
    # the key itself has no flag and no setting (it must never show in `ps`)
    assert SECRET_ENV not in by_env
    assert all(s.flag.startswith("--") for s in SETTINGS)
    assert len({s.env for s in SETTINGS}) == len(SETTINGS)
    assert len({s.flag for s in SETTINGS}) == len(SETTINGS)


def test_config_dataclass_defaults_match_resolve(tmp_path: Path) -> None:
    plain = Config(workdir=tmp_path.resolve())
    resolved = _resolve(tmp_path)
    assert plain == resolved


# ----------------------------------------------------------------------------- precedence
def test_env_values_are_used(tmp_path: Path) -> None:
    env = {"CLAUDE_TMUX_SESSION": "envsess", "CLAUDE_TMUX_SOCKET": "env.sock",
           "CLAUDE_CMD": "myclaude --flag", "TERMINATE_WHEN_QUIT": "yes",
           "AUTONOMOUS_MODE": "false", "OPENROUTER_MODEL": "openai/gpt-x",
           "MAX_ITERATIONS": "7", "OPENROUTER_BASE_URL": "http://localhost:9999/v1/"}
    c = _resolve(tmp_path, env=env)
    assert c.session == "envsess"
    assert c.socket == "env.sock"
    assert c.claude_argv == ("myclaude", "--flag")
    assert c.terminate_when_quit is True
    assert c.autonomous is False
    assert c.model == "openai/gpt-x"
    assert c.max_iterations == 7
    assert c.base_url == "http://localhost:9999/v1"  # trailing slash dropped


def test_flags_beat_env(tmp_path: Path) -> None:
    env = {"CLAUDE_TMUX_SESSION": "envsess", "MAX_ITERATIONS": "7", "AUTONOMOUS_MODE": "true",
           "TERMINATE_WHEN_QUIT": "false", "OPENROUTER_MODEL": "env/model",
           "CLAUDE_CMD": "envclaude"}
    flags: dict[str, object] = {"session": "flagsess", "max_iterations": "3",
                                "autonomous": False, "terminate_when_quit": True,
                                "model": "flag/model", "claude_cmd": "flagclaude -x"}
    c = _resolve(tmp_path, flags, env)
    assert c.session == "flagsess"
    assert c.max_iterations == 3
    assert c.autonomous is False
    assert c.terminate_when_quit is True
    assert c.model == "flag/model"
    assert c.claude_argv == ("flagclaude", "-x")


def test_unset_flags_fall_back_to_env(tmp_path: Path) -> None:
    flags: dict[str, object] = {s.dest: None for s in SETTINGS}
    c = _resolve(tmp_path, flags, {"CLAUDE_TMUX_SESSION": "fromenv"})
    assert c.session == "fromenv"


def test_bad_flag_value_names_the_flag(tmp_path: Path) -> None:
    message = _error(tmp_path, {"max_iterations": "-2"}, {"MAX_ITERATIONS": "1"})
    assert "--max-iterations" in message


# ----------------------------------------------------------------------------- booleans
@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes", "On", " true "])
def test_bool_true_values(value: str) -> None:
    assert parse_bool("X", value) is True


@pytest.mark.parametrize("value", ["false", "False", "0", "no", "OFF"])
def test_bool_false_values(value: str) -> None:
    assert parse_bool("X", value) is False


@pytest.mark.parametrize("value", ["maybe", "2", "truee", "yes please"])
def test_autonomous_mode_not_boolean_is_an_error(tmp_path: Path, value: str) -> None:
    message = _error(tmp_path, env={"AUTONOMOUS_MODE": value})
    assert "AUTONOMOUS_MODE" in message
    assert value in message


def test_terminate_when_quit_not_boolean_is_an_error(tmp_path: Path) -> None:
    assert "TERMINATE_WHEN_QUIT" in _error(tmp_path, env={"TERMINATE_WHEN_QUIT": "sometimes"})


# ----------------------------------------------------------------------------- integers
@pytest.mark.parametrize("value", ["-1", "-100"])
def test_negative_max_iterations_is_an_error(tmp_path: Path, value: str) -> None:
    assert "MAX_ITERATIONS" in _error(tmp_path, env={"MAX_ITERATIONS": value})


@pytest.mark.parametrize("value", ["abc", "1.5", "10x", "1e3"])
def test_non_integer_max_iterations_is_an_error(tmp_path: Path, value: str) -> None:
    assert "MAX_ITERATIONS" in _error(tmp_path, env={"MAX_ITERATIONS": value})


def test_max_iterations_accepts_whole_numbers(tmp_path: Path) -> None:
    assert _resolve(tmp_path, env={"MAX_ITERATIONS": " 25 "}).max_iterations == 25
    assert _resolve(tmp_path, env={"MAX_ITERATIONS": "0"}).max_iterations == 0


def test_parse_int_minimum() -> None:
    assert parse_int("N", "5", minimum=5) == 5
    with pytest.raises(ConfigError):
        parse_int("N", "4", minimum=5)


# ----------------------------------------------------------------------------- names
@pytest.mark.parametrize("socket", ["a/b", "a b", "x;y", "../up", "$(id)", "a" * 65])
def test_bad_socket_names(tmp_path: Path, socket: str) -> None:
    message = _error(tmp_path, env={"CLAUDE_TMUX_SOCKET": socket})
    assert "CLAUDE_TMUX_SOCKET" in message


@pytest.mark.parametrize("socket", ["gt-claude-loop", "my_sock.2", "A1"])
def test_good_socket_names(tmp_path: Path, socket: str) -> None:
    assert _resolve(tmp_path, env={"CLAUDE_TMUX_SOCKET": socket}).socket == socket


@pytest.mark.parametrize("session", ["a:b", "a.b", "x y", "=x"])
def test_bad_session_names(tmp_path: Path, session: str) -> None:
    assert "CLAUDE_TMUX_SESSION" in _error(tmp_path, env={"CLAUDE_TMUX_SESSION": session})


def test_bad_session_flag_names_the_flag(tmp_path: Path) -> None:
    assert "--session" in _error(tmp_path, {"session": "a:b"})


# ----------------------------------------------------------------------------- workdir
def test_missing_workdir(tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist"
    message = _error(tmp_path, workdir=str(missing))
    assert str(missing) in message


def test_file_as_workdir(tmp_path: Path) -> None:
    f = tmp_path / "afile.txt"
    f.write_text("x")
    message = _error(tmp_path, workdir=str(f))
    assert "not a directory" in message


def test_workdir_is_resolved_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    c = resolve({}, {}, workdir="sub")
    assert c.workdir == (tmp_path / "sub").resolve()
    assert c.workdir.is_absolute()


def test_workdir_defaults_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve({}, {}).workdir == tmp_path.resolve()


def test_missing_task_file(tmp_path: Path) -> None:
    assert "task file" in _error(tmp_path, task_file=str(tmp_path / "nope.md"))


# ----------------------------------------------------------------------------- CLAUDE_CMD
def test_claude_cmd_quoting(tmp_path: Path) -> None:
    c = _resolve(tmp_path, env={"CLAUDE_CMD": 'claude --append-system-prompt "two words"'})
    assert c.claude_argv == ("claude", "--append-system-prompt", "two words")


def test_claude_cmd_single_quotes_and_escapes(tmp_path: Path) -> None:
    c = _resolve(tmp_path, env={"CLAUDE_CMD": "claude --x 'a \"b\" c' d\\ e"})
    assert c.claude_argv == ("claude", "--x", 'a "b" c', "d e")


@pytest.mark.parametrize("cmd", ['claude --append-system-prompt "oops', "claude 'x"])
def test_claude_cmd_unbalanced_quote(tmp_path: Path, cmd: str) -> None:
    assert "CLAUDE_CMD" in _error(tmp_path, env={"CLAUDE_CMD": cmd})


@pytest.mark.parametrize("cmd", ["", "   "])
def test_claude_cmd_empty_flag_is_an_error(tmp_path: Path, cmd: str) -> None:
    assert "--claude-cmd" in _error(tmp_path, {"claude_cmd": cmd})


@pytest.mark.parametrize("name", ["CLAUDE_CMD", "CLAUDE_TMUX_SOCKET", "CLAUDE_TMUX_SESSION",
                                  "AUTONOMOUS_MODE", "MAX_ITERATIONS", "TERMINATE_WHEN_QUIT"])
def test_empty_env_value_means_default_like_the_seed(tmp_path: Path, name: str) -> None:
    """The Go seed read variables with os.Getenv, where empty and unset are the same."""
    assert _resolve(tmp_path, env={name: ""}) == _resolve(tmp_path, env={})


# ----------------------------------------------------------------------------- durations
@pytest.mark.parametrize(("text", "seconds"), [
    ("250ms", 0.25), ("90s", 90.0), ("30m", 1800.0), ("2h", 7200.0), ("1.5", 1.5),
    ("0", 0.0), ("1d", 86400.0), (" 45 ", 45.0), ("1.5s", 1.5),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration("D", text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["abc", "-5", "5x", "1.2.3", "", "ms", "5 minutes", "1h30m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_duration("CLAUDE_ORCHESTRATOR_MAX_TIME", text)
    assert "\n" not in str(info.value)
    assert "CLAUDE_ORCHESTRATOR_MAX_TIME" in str(info.value)


def test_durations_through_resolve(tmp_path: Path) -> None:
    c = _resolve(tmp_path, {"max_time": "2h"},
                 {"CLAUDE_ORCHESTRATOR_STABLE_WINDOW": "250ms",
                  "CLAUDE_ORCHESTRATOR_IDLE_TIMEOUT": "30m",
                  "CLAUDE_ORCHESTRATOR_STARTUP_TIMEOUT": "90s"})
    assert c.max_time == 7200.0
    assert c.stable_window == pytest.approx(0.25)
    assert c.idle_timeout == 1800.0
    assert c.startup_timeout == 90.0


def test_bad_duration_through_resolve(tmp_path: Path) -> None:
    message = _error(tmp_path, env={"CLAUDE_ORCHESTRATOR_MAX_TIME": "soon"})
    assert "CLAUDE_ORCHESTRATOR_MAX_TIME" in message


def test_zero_stable_window_is_an_error(tmp_path: Path) -> None:
    _error(tmp_path, env={"CLAUDE_ORCHESTRATOR_STABLE_WINDOW": "0"})


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "lots"])
def test_bad_max_cost(tmp_path: Path, value: str) -> None:
    _error(tmp_path, env={"CLAUDE_ORCHESTRATOR_MAX_COST": value})


def test_bad_base_url(tmp_path: Path) -> None:
    assert "OPENROUTER_BASE_URL" in _error(tmp_path, env={"OPENROUTER_BASE_URL": "openrouter"})


def test_bad_agent(tmp_path: Path) -> None:
    message = _error(tmp_path, env={"CLAUDE_ORCHESTRATOR_AGENT": "aider"})
    assert "CLAUDE_ORCHESTRATOR_AGENT" in message
    assert "auto, claude, codex, gemini or generic" in message


# ----------------------------------------------------------------------------- secrets
def test_api_key_from_env_never_in_repr(tmp_path: Path) -> None:
    c = _resolve(tmp_path, env={SECRET_ENV: FAKE_KEY})
    assert c.api_key == FAKE_KEY
    assert FAKE_KEY not in repr(c)
    assert FAKE_KEY not in str(c)
    assert FAKE_KEY not in repr(c.public_settings())


def test_api_key_is_stripped(tmp_path: Path) -> None:
    assert _resolve(tmp_path, env={SECRET_ENV: f"  {FAKE_KEY}\n"}).api_key == FAKE_KEY
    assert _resolve(tmp_path, env={SECRET_ENV: "   "}).api_key is None


def test_api_key_file_flag(tmp_path: Path) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text(FAKE_KEY + "\n")
    c = _resolve(tmp_path, {"api_key_file": str(key_file)})
    assert c.api_key == FAKE_KEY
    assert FAKE_KEY not in repr(c)


def test_api_key_file_env_and_file_beats_env_key(tmp_path: Path) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text(FAKE_KEY)
    c = _resolve(tmp_path, env={"OPENROUTER_API_KEY_FILE": str(key_file),
                                SECRET_ENV: "sk-or-other-fake"})
    assert c.api_key == FAKE_KEY


def test_api_key_file_missing(tmp_path: Path) -> None:
    message = _error(tmp_path, {"api_key_file": str(tmp_path / "nokey")},
                     {SECRET_ENV: FAKE_KEY})
    assert "nokey" in message
    assert FAKE_KEY not in message


def test_api_key_file_unreadable_is_a_config_error(tmp_path: Path) -> None:
    # a directory given as the key file: still a one-line ConfigError, not a crash
    _error(tmp_path, {"api_key_file": str(tmp_path)})


def test_withhold_always_contains_the_key(tmp_path: Path) -> None:
    assert SECRET_ENV in _resolve(tmp_path).withhold_env
    c = _resolve(tmp_path, env={"CLAUDE_ORCHESTRATOR_WITHHOLD_ENV": "AWS_SECRET, GH_TOKEN,,"})
    assert c.withhold_env == (SECRET_ENV, "AWS_SECRET", "GH_TOKEN")
    c = _resolve(tmp_path, {"withhold_env": f"{SECRET_ENV},X"})
    assert c.withhold_env == (SECRET_ENV, "X")


def test_withhold_bad_name(tmp_path: Path) -> None:
    _error(tmp_path, env={"CLAUDE_ORCHESTRATOR_WITHHOLD_ENV": "OK,not-a-name"})


# ----------------------------------------------------------------------------- executables
def _exe(folder: Path, name: str) -> Path:
    p = folder / name
    p.write_text("#!/bin/sh\nexit 0\n")
    p.chmod(p.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return p


def test_find_executable_missing_claude_exact_text(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        find_executable(["claude", "--dangerously-skip-permissions"], {"PATH": str(tmp_path)})
    assert str(info.value) == NPM_HINT


def test_find_executable_missing_claude_by_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        find_executable([str(tmp_path / "nowhere" / "claude")], {"PATH": str(tmp_path)})
    assert str(info.value) == NPM_HINT


def test_find_executable_other_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        find_executable(["my-agent", "-v"], {"PATH": str(tmp_path)})
    message = str(info.value)
    assert "my-agent" in message
    assert "\n" not in message


def test_find_executable_found(tmp_path: Path) -> None:
    exe = _exe(tmp_path, "claude")
    assert find_executable(["claude"], {"PATH": str(tmp_path)}) == str(exe)


def test_find_executable_ignores_non_executable(tmp_path: Path) -> None:
    (tmp_path / "claude").write_text("not executable")
    with pytest.raises(ConfigError):
        find_executable(["claude"], {"PATH": str(tmp_path)})


def test_find_tmux(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        find_tmux({"PATH": str(tmp_path)})
    message = str(info.value)
    assert message.startswith("tmux not found on PATH")
    assert "\n" not in message
    exe = _exe(tmp_path, "tmux")
    assert find_tmux({"PATH": str(tmp_path)}) == str(exe)


def test_module_constants() -> None:
    assert cfg.SECRET_ENV == "OPENROUTER_API_KEY"
    assert os.path.basename(cfg.DEFAULT_CLAUDE_CMD.split()[0]) == "claude"


def test_readme_lists_every_setting() -> None:
    """The README's settings table names every flag and variable (it is easy to forget)."""
    from claude_orchestrator.config import SETTINGS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [s.env for s in SETTINGS if f"`{s.env}`" not in readme or s.flag not in readme]
    assert not missing


def test_resume_withholding_only_grows(tmp_path: Path) -> None:
    """Issue 17, Low: `resume ID --withhold-env OTHER` replaced the recorded list, and the
    first secret reached Claude again."""
    from claude_orchestrator.config import settings_environ, withholding_grows

    recorded = {"withhold_env": "GITHUB_TOKEN"}
    flags = {"withhold_env": withholding_grows(recorded, "OTHER")}
    config = resolve(flags, {**settings_environ(recorded)}, workdir=str(tmp_path))
    assert config.withhold_env == ("OPENROUTER_API_KEY", "GITHUB_TOKEN", "OTHER")
