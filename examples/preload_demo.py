# An unmodified asyncio program: a unix-socket echo server and three clients in one process.
# `make demo` runs it under ustack-run; it asks the preload library (if any) which fds are
# ustack's, through the library's one exported query.
import asyncio
import ctypes
import os
import socket
import tempfile

try:
    _kind = ctypes.CDLL(None).ustack_preload_fd_kind
except AttributeError:
    _kind = None


def who(fd):
    if _kind is None:
        return "kernel (no preload)"
    return "ustack" if _kind(fd) == 1 else "kernel"


async def handle(reader, writer):
    while data := await reader.readline():
        writer.write(data.upper())
        await writer.drain()
    writer.close()


async def client(path, i):
    reader, writer = await asyncio.open_unix_connection(path)
    fd = writer.get_extra_info("socket").fileno()
    kind = who(fd)
    writer.write(f"hello from client {i}\n".encode())
    await writer.drain()
    reply = (await reader.readline()).decode().strip()
    writer.close()
    await writer.wait_closed()
    return f"client {i} (fd {fd}, {kind}): {reply}"


async def main():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "echo.sock")
        server = await asyncio.start_unix_server(handle, path)
        lfd = server.sockets[0].fileno()
        print(f"listener fd {lfd}: {who(lfd)} AF_UNIX socket at a pathname")
        loop = asyncio.get_running_loop()
        sel = getattr(loop, "_selector", None)
        if sel is not None:
            print(f"event loop: {type(sel).__name__}, epoll fd {sel.fileno()}: {who(sel.fileno())}")
        for line in await asyncio.gather(*(client(path, i) for i in range(3))):
            print(line)
        server.close()
        await server.wait_closed()
    tty = os.open("/dev/null", os.O_RDONLY)
    print(f"a file opened meanwhile, fd {tty}: {who(tty)} (calls on it go to the kernel)")
    os.close(tty)


asyncio.run(main())
