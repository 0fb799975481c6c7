"""One listening socket per server worker, so the kernel spreads connections over the workers.

uvicorn's workers share the one socket their supervisor bound, and whichever worker wakes first
accepts every connection waiting: 32 keep-alive connections opened together all landed on one of
two workers (measured with ``ss``), so the second worker idled. With ``SO_REUSEPORT`` each worker
listens on a socket of its own on the same port, and the kernel hands each new connection to one
of them by a hash of its addresses.

The supervisor passes its sockets to each worker by pickling them; ``PortReservation`` pickles as
"open a new listening socket on this port", so every worker gets its own. In the supervisor it is
bound but never listens: it holds the port (a port already taken fails there, at once) and takes
no connections.
"""

from __future__ import annotations

import socket
from typing import Any


def reuse_port_supported() -> bool:
    """Linux (3.9+) balances connections over ``SO_REUSEPORT`` sockets; elsewhere the option
    either does not exist or does not balance, and the workers share one socket."""
    import sys

    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _bound(host: str, port: int) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A worker's own socket: bound to the shared port beside the others, and listening."""
    sock = _bound(host, port)
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class PortReservation(socket.socket):
    """The supervisor's hold on the port; each worker that unpickles it gets a listening socket."""

    def __init__(self, host: str, port: int, backlog: int) -> None:
        reserved = _bound(host, port)
        super().__init__(reserved.family, reserved.type, fileno=reserved.detach())
        self.address = (host, port, backlog)

    def __reduce__(self) -> tuple[Any, ...]:
        return listening_socket, self.address
