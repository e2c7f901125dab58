"""``ragchat web`` starts the page on 127.0.0.1 with Streamlit's usage statistics off, from any folder.

One test starts the real command as a subprocess from a folder with no ``.streamlit/`` and asks the
operating system and the server themselves; the others check the command it would run.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.settings import Settings
from tests.fake_ollama import FakeOllama
from ui.cli import main

ROOT = Path(__file__).parents[1]
APP = ROOT / "ui" / "app.py"
WARNING = (
    "Warning: the page will be open to your network on 0.0.0.0:8765 — anyone who can reach that port can read "
    "your documents and threads."
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening_addresses(port: int) -> set[str]:
    """Return the local addresses of TCP sockets listening on ``port``, read from /proc/net/tcp and tcp6."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A is LISTEN
                continue
            raw = bytes.fromhex(address)
            # The kernel prints each 32-bit word in host (little-endian) order.
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(socket.inet_ntop(family, raw))
    return found


async def usage_stats_setting(port: int) -> bool:
    """Open a session as the browser does and return the ``gather_usage_stats`` the server sends it."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    uri = f"ws://127.0.0.1:{port}/_stcore/stream"
    async with websockets.connect(uri, subprotocols=["streamlit"], open_timeout=30) as ws:
        rerun = BackMsg()
        rerun.rerun_script.query_string = ""
        await ws.send(rerun.SerializeToString())
        while True:
            message = ForwardMsg()
            message.ParseFromString(await asyncio.wait_for(ws.recv(), timeout=60))
            if message.WhichOneof("type") == "new_session":
                return message.new_session.config.gather_usage_stats


@pytest.fixture
def web(fake_ollama: FakeOllama, corpus: Path, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """``ragchat web --port N`` started from an empty folder (no .streamlit there or in HOME); stopped afterwards."""
    elsewhere, user_home = tmp_path / "elsewhere", tmp_path / "user"
    elsewhere.mkdir()
    user_home.mkdir()
    port, log_path = free_port(), tmp_path / "web.log"
    environment = {
        **os.environ,
        "HOME": str(user_home),  # no ~/.streamlit/config.toml or credentials either
        "PYTHONPATH": str(ROOT),
        "OLLAMA_HOST": fake_ollama.url,
        "RAGCHAT_HOME": str(tmp_path / "home"),
        "RAGCHAT_DOCS_DIR": str(corpus),
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ui.cli", "web", "--port", str(port)],
            cwd=elsewhere,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"ragchat web did not start: {log_path.read_text()}")
                time.sleep(0.3)
            yield port, log_path
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_web_listens_only_on_localhost_with_usage_statistics_off_from_any_folder(web: tuple[int, Path]) -> None:
    port, log = web
    assert listening_addresses(port) == {"127.0.0.1"}
    assert asyncio.run(usage_stats_setting(port)) is False
    assert "Collecting usage statistics" not in log.read_text()


@pytest.fixture
def exec_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str], dict[str, str]]]:
    """Record what ``ragchat web`` would run instead of replacing the test process with it."""
    calls: list[tuple[str, list[str], dict[str, str]]] = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: calls.append((path, list(argv), dict(env))))
    return calls


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_web_runs_the_installed_app_bound_to_localhost(
    env: Settings, exec_calls: list, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["web", "--port", "8765"]) == 0
    ((path, argv, _),) = exec_calls
    assert (path, argv[:6]) == (sys.executable, [sys.executable, "-P", "-m", "streamlit", "run", str(APP)])
    assert option(argv, "--server.address") == "127.0.0.1"
    assert option(argv, "--server.port") == "8765"
    assert option(argv, "--browser.gatherUsageStats") == "false"
    assert option(argv, "--server.headless") == "true"
    assert "--browser.serverAddress" not in argv
    assert capsys.readouterr().err == "Starting the page at http://127.0.0.1:8765 — Ctrl-C stops it.\n"


def test_web_passes_settings_flags_to_the_page(env: Settings, exec_calls: list, tmp_path: Path) -> None:
    main(["web", "--model", "qwen3:4b", "--k", "6", "--verify", "--docs", str(tmp_path / "d")])
    ((_, _, environment),) = exec_calls
    assert environment["RAGCHAT_CHAT_MODEL"] == "qwen3:4b"
    assert environment["RAGCHAT_K"] == "6"
    assert environment["RAGCHAT_VERIFY_ANSWERS"] == "true"
    assert environment["RAGCHAT_DOCS_DIR"] == str(tmp_path / "d")
    assert environment["OLLAMA_HOST"] == env.ollama_host  # from the environment, unchanged


def test_web_on_all_interfaces_warns_first(env: Settings, exec_calls: list, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["web", "--address", "0.0.0.0", "--port", "8765"]) == 0
    ((_, argv, _),) = exec_calls
    assert option(argv, "--server.address") == "0.0.0.0"
    assert option(argv, "--browser.serverAddress") == socket.gethostname()  # no look-up of the public address
    assert capsys.readouterr().err.splitlines()[0] == WARNING


def test_web_with_a_bad_setting_is_one_line_and_starts_nothing(
    env: Settings, exec_calls: list, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["web", "--k", "0"]) == 1
    err = capsys.readouterr().err
    assert err == "Error: Invalid setting k (RAGCHAT_K): Input should be greater than or equal to 1.\n"
    assert exec_calls == []


def test_web_on_a_port_in_use_is_one_line_and_starts_nothing(
    env: Settings, exec_calls: list, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["web", "--port", str(port)]) == 1
    assert capsys.readouterr().err == (
        f"Error: Port {port} on 127.0.0.1 is already in use — stop what is using it, or choose another with "
        f"`ragchat web --port {port + 1}`.\n"
    )
    assert exec_calls == []
