"""``ragchat web``: check the address and port, then become ``streamlit run`` on the page (ui/app.py).

Settings given as flags reach the page as environment variables; ``--address`` other than this machine's
is allowed with a warning. Nothing heavy is imported: Streamlit starts in the process that replaces this one.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
from pathlib import Path
from typing import Any

from ui.terminal import one_line, say

APP = Path(__file__).with_name("app.py")
"""The page, found next to this file wherever ragchat is installed."""


def run_web(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    """Start the page with Streamlit, on 127.0.0.1 unless ``--address`` says otherwise, usage statistics off.

    The options are given to ``streamlit run`` as flags, which override any ``.streamlit/config.toml`` and
    ``STREAMLIT_*`` variable, so the folder it is started from changes nothing. Settings given as flags reach
    the page as environment variables. ragchat then becomes Streamlit (``exec``): Ctrl-C and signals go
    straight to the server and no second process waits around.
    """
    check_port(args.address, args.port)
    if not is_loopback(args.address):
        say(
            f"Warning: the page will be open to your network on {one_line(args.address)}:{args.port} — anyone who "
            "can reach that port can read your documents and threads.",
            file=sys.stderr,
        )
    host = page_host(args.address)
    host = f"[{host}]" if ":" in host else host
    say(f"Starting the page at http://{one_line(host)}:{args.port} — Ctrl-C stops it.", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()  # exec replaces the process: anything still buffered would be lost
    os.execve(sys.executable, web_command(args.address, args.port), {**os.environ, **settings_environment(overrides)})
    return 0  # reached only when exec is replaced (in tests)


def web_command(address: str, port: int) -> list[str]:
    """Return the ``streamlit run`` command line for the page."""
    command = [
        sys.executable,
        "-P",  # the page's own packages, never same-named ones in the folder it is started from
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        address,
        "--server.port",
        str(port),
        "--server.headless",
        "true",  # no browser opened from a server, no e-mail prompt on the first run
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]
    if not is_loopback(address):
        # Told its address, Streamlit prints it instead of asking a web service for this machine's public one.
        command += ["--browser.serverAddress", page_host(address)]
    return command


def page_host(address: str) -> str:
    """Return the host name a browser should use for a page listening on ``address``.

    >>> page_host("127.0.0.1"), page_host("192.168.1.20"), page_host("0.0.0.0") == socket.gethostname()
    ('127.0.0.1', '192.168.1.20', True)
    """
    try:
        everywhere = ipaddress.ip_address(address).is_unspecified
    except ValueError:
        everywhere = False
    return socket.gethostname() if everywhere else address


def settings_environment(overrides: dict[str, Any]) -> dict[str, str]:
    """Return the settings given as flags (by setting name) as the environment variables the page reads."""
    from agent.settings import env_name

    return {env_name(name): "true" if value is True else str(value) for name, value in overrides.items()}


def is_loopback(address: str) -> bool:
    """Return whether ``address`` is reachable from this machine only.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_port(address: str, port: int) -> None:
    """Make sure the page can listen on ``address`` and ``port`` before handing over to Streamlit.

    Raises:
        RagchatError: when the port is taken, the address is not this machine's, or the port needs privileges.
    """
    import errno

    from knowledge.errors import RagchatError

    try:
        family, kind, proto, _, where = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError):
        raise RagchatError(
            f"Cannot listen on {address} — give an address of this machine, such as 127.0.0.1."
        ) from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is no conflict
        try:
            probe.bind(where)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise RagchatError(
                    f"Port {port} on {address} is already in use — stop what is using it, or choose another with "
                    f"`ragchat web --port {port % 65535 + 1}`."
                ) from None
            if exc.errno == errno.EACCES:
                raise RagchatError(
                    f"Listening on port {port} needs administrator rights — choose a port above 1023."
                ) from None
            raise RagchatError(
                f"Cannot listen on {address}: {exc.strerror} — give an address of this machine, such as 127.0.0.1."
            ) from None


def port_number(text: str) -> int:
    """Return ``text`` as a TCP port (1–65535), for argparse."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1–65535)")
    return port
