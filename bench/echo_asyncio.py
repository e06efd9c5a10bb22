#!/usr/bin/env python3
"""echo_asyncio: the Python anchors of the echo benchmark (scripts/bench_echo.sh).

    echo_asyncio.py [--loop asyncio|uvloop] [--api streams|protocol] PORT

A TCP echo server on 127.0.0.1:PORT, written the way a good asyncio programmer writes one, on
the standard event loop (asyncio) or on uvloop (Debian python3-uvloop), with either of
asyncio's two APIs:

  streams   asyncio.start_server; a coroutine per connection: reader.read, writer.write,
            await writer.drain() (the flow control the streams API asks for)
  protocol  loop.create_server with an asyncio.Protocol: data_received -> transport.write,
            no task and no coroutine per connection; pause_writing/resume_writing stop and
            restart reading, so a client that does not read cannot make the server buffer
            without bound (the protocol counterpart of drain)

As in the C anchors (bench/echo_epoll.c): TCP_NODELAY on every connection (asyncio and uvloop
both set it on TCP transports already; set here so the server does not depend on that), the
listen backlog SOMAXCONN, RLIMIT_NOFILE raised to its hard limit for 10,000 connections.
Prints "Server listening at 127.0.0.1:PORT" once it accepts connections; SIGTERM or SIGINT
closes the listener and exits 0 (open connections are left to the process exit, as
echo_epoll does).
"""
import argparse
import asyncio
import contextlib
import resource
import signal
import socket
import sys

HOST = "127.0.0.1"
# As much as one read may take: echo_epoll's shared buffer, and asyncio's StreamReader limit.
READ_SIZE = 64 * 1024


def set_nodelay(transport):
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def echo_streams(reader, writer):
    set_nodelay(writer.transport)
    try:
        while data := await reader.read(READ_SIZE):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass  # reset by the client: nothing to answer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


class EchoProtocol(asyncio.Protocol):
    __slots__ = ("transport",)

    def connection_made(self, transport):
        set_nodelay(transport)
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    # The transport's write buffer went over its high-water mark: stop reading until it drains.
    def pause_writing(self):
        self.transport.pause_reading()

    def resume_writing(self):
        self.transport.resume_reading()

    # eof_received returns None: the transport closes itself when the client closes.


async def serve(port, api):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        if api == "streams":
            server = await asyncio.start_server(echo_streams, HOST, port, backlog=socket.SOMAXCONN)
        else:
            server = await loop.create_server(EchoProtocol, HOST, port, backlog=socket.SOMAXCONN)
    except OSError as e:
        print(f"echo_asyncio: port {port}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"Server listening at {HOST}:{port}", flush=True)
    await stop.wait()
    # Not wait_closed(): since Python 3.12 it also waits for every connection to end. The
    # connection tasks still running are cancelled by the runner.
    server.close()
    return 0


def main():
    ap = argparse.ArgumentParser(description="TCP echo server on asyncio or uvloop (benchmark anchor)")
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    ap.add_argument("--api", choices=("streams", "protocol"), default="streams")
    ap.add_argument("port", type=int, metavar="PORT")
    args = ap.parse_args()
    if not 0 < args.port < 65536:
        ap.error("PORT must be in 1..65535")

    # Thousands of connections: take every descriptor the hard limit allows.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    loop_factory = None
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("echo_asyncio: uvloop is not installed (Debian: python3-uvloop)", file=sys.stderr)
            return 2
        loop_factory = uvloop.new_event_loop
    if hasattr(asyncio, "Runner"):  # Python 3.11+
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(serve(args.port, args.api))
    if loop_factory:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return asyncio.run(serve(args.port, args.api))


if __name__ == "__main__":
    sys.exit(main())
