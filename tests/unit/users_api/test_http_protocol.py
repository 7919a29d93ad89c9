"""The corked transport: writes of one loop step leave as one, in order; closing sends what is pending."""

from __future__ import annotations

import asyncio

from users_api.http_protocol import CorkedTransport


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed
        self.sent.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def abort(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0


async def test_writes_of_one_step_are_sent_once_in_order() -> None:
    real = RecordingTransport()
    corked = CorkedTransport(real, asyncio.get_running_loop())
    corked.write(b"HTTP/1.1 200 OK\r\n\r\n")
    corked.write(memoryview(b"body"))
    assert real.sent == []
    assert corked.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\nbody")
    await asyncio.sleep(0)
    assert real.sent == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    corked.write(b"next")
    await asyncio.sleep(0)
    assert real.sent[-1] == b"next"


async def test_close_sends_pending_writes_first_and_abort_drops_them() -> None:
    real = RecordingTransport()
    corked = CorkedTransport(real, asyncio.get_running_loop())
    corked.write(b"last words")
    corked.close()
    assert (real.sent, real.closed) == ([b"last words"], True)
    await asyncio.sleep(0)  # the scheduled flush finds nothing left to send
    assert real.sent == [b"last words"]

    other = RecordingTransport()
    aborted = CorkedTransport(other, asyncio.get_running_loop())
    aborted.write(b"never")
    aborted.abort()
    await asyncio.sleep(0)
    assert (other.sent, other.closed) == ([], True)


async def test_nothing_is_written_to_a_transport_closed_meanwhile() -> None:
    real = RecordingTransport()
    corked = CorkedTransport(real, asyncio.get_running_loop())
    corked.write(b"late")
    real.close()  # the peer went away before the step ended
    await asyncio.sleep(0)
    assert real.sent == []
