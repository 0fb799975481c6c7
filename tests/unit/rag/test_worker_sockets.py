"""Each ``rag serve`` worker listens on a socket of its own (``rag.api.worker_sockets``)."""

from __future__ import annotations

import collections
import pickle
import socket
from multiprocessing.reduction import ForkingPickler

import pytest

from devtools.milvus_server import free_port
from rag.api.worker_sockets import PortReservation, reuse_port_supported

pytestmark = pytest.mark.skipif(not reuse_port_supported(), reason="SO_REUSEPORT balancing is Linux's")


def test_the_reservation_holds_the_port_without_taking_connections() -> None:
    port = free_port()
    reservation = PortReservation("127.0.0.1", port, 16)
    try:
        with pytest.raises(OSError):  # a server without SO_REUSEPORT cannot take the port
            plain = socket.socket()
            try:
                plain.bind(("127.0.0.1", port))
            finally:
                plain.close()
        with pytest.raises(ConnectionRefusedError):  # bound, not listening
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        reservation.close()


def test_each_unpickled_copy_is_a_listening_socket_of_its_own_and_connections_spread() -> None:
    """What uvicorn's supervisor hands each worker: pickled as multiprocessing does."""
    port = free_port()
    reservation = PortReservation("127.0.0.1", port, 64)
    workers = [pickle.loads(bytes(ForkingPickler.dumps(reservation))) for _ in range(2)]
    clients: list[socket.socket] = []
    try:
        assert len({w.fileno() for w in workers} | {reservation.fileno()}) == 3
        for worker in workers:
            assert worker.getsockname() == ("127.0.0.1", port)
            worker.setblocking(False)
        for _ in range(64):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        accepted: collections.Counter[int] = collections.Counter()
        for index, worker in enumerate(workers):
            while True:
                try:
                    connection, _ = worker.accept()
                except BlockingIOError:
                    break
                connection.close()
                accepted[index] += 1
        assert sum(accepted.values()) == 64
        assert min(accepted[0], accepted[1]) >= 8, accepted  # a hash of the addresses, not one worker taking all
    finally:
        for sock in [*clients, *workers, reservation]:
            sock.close()
