"""asyncio over AF_UNIX: servers and clients in one process, on asyncio's epoll loop.

Run natively and under ustack-run by tests/preload/run_compare.sh: stdout must be the same
byte for byte. Results are gathered and printed sorted; socket paths live in a temporary
directory (printed relative to it) that is removed at the end.

Covers: asyncio.start_unix_server on a path and on an autobound abstract name (sock=), eight
concurrent clients with request/response lines, a 1 MiB upload hashed by the server,
write_eof, peername/sockname, connect errors (ENOENT, ECONNREFUSED) and bind on a taken path
(EADDRINUSE), wait_for timeouts, loop.sock_sendall/sock_recv/sock_recv_into on a socketpair
(2 MiB with a concurrent reader), loop.sock_accept/sock_connect, a datagram endpoint on a
SOCK_DGRAM socketpair, read/write pipe transports on os.pipe(), and the loop's self-pipe
(call_soon_threadsafe, run_in_executor).
"""
import asyncio
import hashlib
import os
import random
import shutil
import signal
import socket
import stat
import sys
import tempfile
import threading

from common import ename, section


async def handle(reader, writer):
    """One connection: upper-cases lines; 'BIG n' is followed by n bytes it hashes."""
    count = 0
    while True:
        line = await reader.readline()
        if not line:
            break
        count += 1
        if line.startswith(b"BIG "):
            n = int(line[4:])
            data = await reader.readexactly(n)
            writer.write(f"got {len(data)} sha256 {hashlib.sha256(data).hexdigest()[:16]}\n".encode())
        elif line == b"WHO\n":
            writer.write(f"server sees peername {writer.get_extra_info('peername')!r}\n".encode())
        else:
            writer.write(line.rstrip(b"\n").upper() + f" #{count}\n".encode())
        await writer.drain()
    writer.write(f"bye after {count}\n".encode())
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def client(addr, i, nlines):
    reader, writer = await asyncio.open_unix_connection(addr)
    replies = []
    for j in range(nlines):
        writer.write(f"client {i} line {j}\n".encode())
        await writer.drain()
        replies.append((await reader.readline()).decode().rstrip())
    writer.write_eof()
    rest = await reader.read()
    writer.close()
    await writer.wait_closed()
    return i, replies, rest.decode().rstrip()


async def servers(tmp):
    section("start_unix_server on a path")
    path = os.path.join(tmp, "srv.sock")
    server = await asyncio.start_unix_server(handle, path=path)
    names = [os.path.relpath(s.getsockname(), tmp) for s in server.sockets]
    print("listening on", names, "is socket inode", stat.S_ISSOCK(os.stat(path).st_mode))
    results = await asyncio.gather(*(client(path, i, 4) for i in range(8)))
    for i, replies, rest in sorted(results):
        print(f"client {i}: {replies} then {rest!r}")

    reader, writer = await asyncio.open_unix_connection(path)
    print("client peername", os.path.relpath(writer.get_extra_info("peername"), tmp),
          "sockname", repr(writer.get_extra_info("sockname")))
    writer.write(b"WHO\n")
    print((await reader.readline()).decode().rstrip())
    big = random.Random(3).randbytes(1 << 20)
    writer.write(f"BIG {len(big)}\n".encode() + big)
    await writer.drain()
    print("upload:", (await reader.readline()).decode().rstrip(),
          "expected", hashlib.sha256(big).hexdigest()[:16])
    try:
        await asyncio.wait_for(reader.readline(), 0.05)
        print("readline returned?!")
    except asyncio.TimeoutError:
        print("wait_for(readline, 0.05) timed out")
    writer.write_eof()
    print("after write_eof:", (await reader.read()).decode().rstrip())
    writer.close()
    await writer.wait_closed()

    section("start_unix_server on an autobound abstract name")
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind("")  # autobind: "\0" and five hex digits
    name = ls.getsockname()
    print("autobound name: bytes", isinstance(name, bytes), "length", len(name),
          "abstract", name[:1] == b"\0")
    aserver = await asyncio.start_unix_server(handle, sock=ls)
    results = await asyncio.gather(*(client(name, i, 3) for i in range(4)))
    for i, replies, rest in sorted(results):
        print(f"abstract client {i}: {replies} then {rest!r}")
    reader, writer = await asyncio.open_unix_connection(name)
    print("client peername is the name", writer.get_extra_info("peername") == name)
    writer.write_eof()
    print("after write_eof:", (await reader.read()).decode().rstrip())
    writer.close()
    await writer.wait_closed()

    section("connect and bind errors")
    for label, target in (("missing path", os.path.join(tmp, "missing.sock")),
                          ("regular file", os.path.join(tmp, "plain-file")),
                          ("unbound abstract name", b"\0ustack-preload-test-nobody-" + name[1:])):
        if label == "regular file":
            with open(target, "w") as f:
                f.write("not a socket\n")
        try:
            await asyncio.open_unix_connection(target)
            print(label, "connected?!")
        except OSError as e:
            print(label, type(e).__name__, ename(e))
    try:
        await asyncio.start_unix_server(handle, path=os.path.join(tmp, "plain-file"))
        print("bind on a regular file succeeded?!")
    except OSError as e:
        print("bind on a regular file", type(e).__name__, ename(e))
    dup = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        dup.bind(name)
        print("bind on a taken abstract name succeeded?!")
    except OSError as e:
        print("bind on a taken abstract name", type(e).__name__, ename(e))
    dup.close()

    for srv in (server, aserver):
        srv.close()
        await srv.wait_closed()
    print("servers closed; path still there (3.11 leaves it)", os.path.exists(path))
    try:
        await asyncio.open_unix_connection(path)
        print("connected to a closed server?!")
    except OSError as e:
        print("connect to closed server's path", type(e).__name__, ename(e))


async def sock_calls(tmp):
    loop = asyncio.get_running_loop()
    section("loop.sock_* on a socketpair")
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    await loop.sock_sendall(a, b"ping")
    print("sock_recv", await loop.sock_recv(b, 100))
    await loop.sock_sendall(b, b"pong-into")
    buf = bytearray(4)
    n = await loop.sock_recv_into(a, buf)
    print("sock_recv_into", n, bytes(buf), "rest", await loop.sock_recv(a, 100))

    data = random.Random(5).randbytes(2 << 20)

    async def reader():
        chunks, total = [], 0
        while True:
            d = await loop.sock_recv(b, 65536)
            if not d:
                break
            chunks.append(d)
            total += len(d)
        return b"".join(chunks)

    rtask = asyncio.create_task(reader())
    await loop.sock_sendall(a, data)
    a.shutdown(socket.SHUT_WR)
    got = await rtask
    print("2 MiB via sock_sendall:", len(got), hashlib.sha256(got).hexdigest()[:16],
          "same", got == data)
    try:
        await asyncio.wait_for(loop.sock_recv(a, 10), 0.05)
        print("sock_recv returned?!")
    except asyncio.TimeoutError:
        print("wait_for(sock_recv, 0.05) timed out")
    b.close()
    print("sock_recv after peer close", await loop.sock_recv(a, 10))
    a.close()

    section("loop.sock_accept / sock_connect")
    path = os.path.join(tmp, "raw.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    srv.setblocking(False)
    cl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    cl.setblocking(False)
    acc = asyncio.create_task(loop.sock_accept(srv))
    await loop.sock_connect(cl, path)
    conn, addr = await acc
    print("accepted, peer address", repr(addr), "client peername",
          os.path.relpath(cl.getpeername(), tmp), "conn sockname", os.path.relpath(conn.getsockname(), tmp))
    conn.setblocking(False)
    await loop.sock_sendall(cl, b"hello over raw.sock")
    print("server got", await loop.sock_recv(conn, 100))
    for s in (conn, cl, srv):
        s.close()

    section("datagram endpoint on a SOCK_DGRAM socketpair")
    x, y = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    # Bound, so that x has a peername: 3.11's transport.sendto() needs one on a connected
    # socket (with an unnamed peer it calls sendto(data, None)).
    y.bind("")
    yname = y.getsockname()
    print("x peername is y's autobound name", x.getpeername() == yname)
    received = []
    done = loop.create_future()

    class Proto(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            received.append((data, addr))
            if len(received) == 3 and not done.done():
                done.set_result(None)

    transport, _ = await loop.create_datagram_endpoint(Proto, sock=x)
    for m in (b"d-one", b"d-two", b"d-three"):
        y.send(m)
    await asyncio.wait_for(done, 10)
    print("datagrams", [d for d, _ in received], "from y's name", [ad == yname for _, ad in received])
    transport.sendto(b"reply datagram")
    y.setblocking(False)
    print("peer got", await loop.sock_recv(y, 100))
    transport.close()
    y.close()

    section("pipe transports on os.pipe()")
    r, w = os.pipe()
    print("pipe ends are FIFOs", stat.S_ISFIFO(os.fstat(r).st_mode), stat.S_ISFIFO(os.fstat(w).st_mode))
    preader = asyncio.StreamReader()
    rtrans, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(preader),
                                             os.fdopen(r, "rb", 0))
    wtrans, wproto = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(w, "wb", 0))
    payload = b"".join(f"pipe line {i}\n".encode() for i in range(2000))
    wtrans.write(payload)
    wtrans.close()
    got = await preader.read()
    print("through the pipe:", len(got), "bytes, same", got == payload, "last", got.splitlines()[-1])
    rtrans.close()

    section("self-pipe wake-ups")
    fut = loop.create_future()
    t = threading.Timer(0.02, lambda: loop.call_soon_threadsafe(fut.set_result, "set from a thread"))
    t.start()
    print(await asyncio.wait_for(fut, 10))
    t.join()
    print("run_in_executor", await loop.run_in_executor(None, sum, range(1000)))
    results = await asyncio.gather(*(loop.run_in_executor(None, pow, 3, k) for k in range(5)))
    print("executor results", results)


async def main_async(tmp):
    loop = asyncio.get_running_loop()
    print("loop selector", type(loop._selector).__name__)
    await servers(tmp)
    await sock_calls(tmp)


def main():
    # A runner's timeout sends SIGTERM: leave through the finally below, removing the temp dir.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    tmp = tempfile.mkdtemp(prefix="ustack-preload-asyncio-")
    try:
        asyncio.run(main_async(tmp))
        print("left in tmp", sorted(os.listdir(tmp)))
    finally:
        shutil.rmtree(tmp)
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
