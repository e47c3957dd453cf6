"""os.eventfd and os.pipe/os.pipe2, with fcntl, fstat, poll/select/epoll and threads.

Run natively and under ustack-run by tests/preload/run_compare.sh: stdout must be the same
byte for byte. Every line is deterministic: values, errno names, fd numbers, byte counts that
Linux's pipe buffer decides (pages of 4096, small writes merged into the last page).

Covers: eventfd counters, initval, EFD_SEMAPHORE, EFD_NONBLOCK (EAGAIN on empty and on
overflow), os.eventfd_read/eventfd_write and raw 8-byte os.read/os.write (EINVAL on short
buffers and on 2**64-1), poll/epoll readiness (IN, OUT, ET edges per write), blocking reads and
writes woken by a thread; pipes: O_RDONLY/O_WRONLY F_GETFL, O_CLOEXEC, pipe2(O_NONBLOCK),
os.set_blocking and F_SETFL, filling a pipe (4096- and 1000-byte writes, a partial large
write), F_GETPIPE_SZ/F_SETPIPE_SZ (rounding, EBUSY), EPIPE and EOF, FIONREAD, readv/writev,
dup/dup2, O_DIRECT packet mode, os.fstat S_ISFIFO/S_ISSOCK, and pipes between threads driven
by select.select, select.poll and select.epoll.
"""
import array
import errno
import fcntl
import hashlib
import os
import select
import socket
import stat
import struct
import sys
import termios
import threading

import common
from common import bits, ename, section

F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
O_DIRECT = getattr(os, "O_DIRECT", 0o40000)
POLL_BITS = [(n[4:], getattr(select, n)) for n in (
    "POLLIN", "POLLPRI", "POLLOUT", "POLLERR", "POLLHUP", "POLLNVAL")]
EP_BITS = [(n[5:], getattr(select, n)) for n in (
    "EPOLLIN", "EPOLLPRI", "EPOLLOUT", "EPOLLERR", "EPOLLHUP", "EPOLLRDHUP")]

names = {}


def ev(evs, table):
    return [f"{names.get(fd, fd)}:{bits(m, table)}" for fd, m in evs]


def show(label, fn):
    common.show(label, fn, (OverflowError, ValueError))


def flstr(fd):
    fl = fcntl.fcntl(fd, fcntl.F_GETFL)
    acc = {os.O_RDONLY: "O_RDONLY", os.O_WRONLY: "O_WRONLY", os.O_RDWR: "O_RDWR"}[fl & os.O_ACCMODE]
    extra = [n for n in ("O_NONBLOCK", "O_APPEND", "O_DIRECT") if fl & getattr(os, n)]
    return "|".join([acc] + extra) + f" ({fl:#o})"


def kind(fd):
    m = os.fstat(fd).st_mode
    return ",".join(n for n in ("S_ISFIFO", "S_ISSOCK", "S_ISREG", "S_ISDIR", "S_ISCHR")
                    if getattr(stat, n)(m)) or "none of FIFO/SOCK/REG/DIR/CHR"


def fionread(fd):
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf, True)
    return buf[0]


def eventfd_basics():
    section("eventfd basics")
    efd = os.eventfd(0)
    names[efd] = "efd"
    print("fd", efd, "F_GETFL", flstr(efd), "inheritable", os.get_inheritable(efd),
          "blocking", os.get_blocking(efd))
    print("fstat", kind(efd))
    for v in (1, 2, 3):
        os.eventfd_write(efd, v)
    show("read after writing 1, 2, 3", lambda: os.eventfd_read(efd))
    os.write(efd, struct.pack("=Q", 10))
    show("os.read 8 raw bytes after writing 10", lambda: os.read(efd, 8))
    os.eventfd_write(efd, 7)
    show("os.read with a 16-byte buffer", lambda: struct.unpack("=Q", os.read(efd, 16)))
    show("os.read 4 bytes", lambda: os.read(efd, 4))
    show("os.write 4 bytes", lambda: os.write(efd, b"\1\0\0\0"))
    show("eventfd_write 2**64-1", lambda: os.eventfd_write(efd, 2**64 - 1))
    show("eventfd_write 2**64", lambda: os.eventfd_write(efd, 2**64))
    show("eventfd_write -1", lambda: os.eventfd_write(efd, -1))
    show("F_GETPIPE_SZ on an eventfd", lambda: fcntl.fcntl(efd, F_GETPIPE_SZ))
    os.set_blocking(efd, False)
    print("after set_blocking(False):", flstr(efd), "blocking", os.get_blocking(efd))
    show("read empty", lambda: os.eventfd_read(efd))
    fcntl.fcntl(efd, fcntl.F_SETFL, fcntl.fcntl(efd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    print("after F_SETFL clearing O_NONBLOCK:", flstr(efd), "blocking", os.get_blocking(efd))
    os.close(efd)

    e5 = os.eventfd(5, os.EFD_CLOEXEC)
    show("initval 5, read", lambda: os.eventfd_read(e5))
    os.close(e5)

    sem = os.eventfd(3, os.EFD_SEMAPHORE | os.EFD_NONBLOCK)
    print("semaphore fd", sem, "F_GETFL", flstr(sem))
    for _ in range(4):
        show("semaphore read", lambda: os.eventfd_read(sem))
    os.eventfd_write(sem, 2)
    show("semaphore read raw", lambda: os.read(sem, 8))
    show("semaphore read", lambda: os.eventfd_read(sem))
    show("semaphore read", lambda: os.eventfd_read(sem))
    os.close(sem)

    nb = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    names[nb] = "nb"
    try:
        os.eventfd_read(nb)
    except BlockingIOError as e:
        print("EFD_NONBLOCK empty read: BlockingIOError, errno is EAGAIN", e.errno == errno.EAGAIN)
    p = select.poll()
    p.register(nb, select.POLLIN | select.POLLOUT)
    print("poll at 0", ev(p.poll(0), POLL_BITS))
    os.eventfd_write(nb, 0xFFFFFFFFFFFFFFFE)
    print("poll at max", ev(p.poll(0), POLL_BITS))
    show("write 1 more at max", lambda: os.eventfd_write(nb, 1))
    show("write 0 at max", lambda: os.eventfd_write(nb, 0))
    show("read max", lambda: os.eventfd_read(nb))
    os.eventfd_write(nb, 1)
    print("poll at 1", ev(p.poll(0), POLL_BITS))
    r, w, x = select.select([nb], [nb], [nb], 0)
    print("select at 1", [names[f] for f in r], [names[f] for f in w], x)
    os.eventfd_read(nb)

    ep = select.epoll()
    ep.register(nb, select.EPOLLIN | select.EPOLLET)
    print("epoll ET idle", ev(ep.poll(0), EP_BITS))
    os.eventfd_write(nb, 1)
    print("write: edge", ev(ep.poll(0), EP_BITS), "then", ev(ep.poll(0), EP_BITS))
    os.eventfd_write(nb, 1)
    print("another write: another edge", ev(ep.poll(0), EP_BITS))
    show("read", lambda: os.eventfd_read(nb))
    print("after read", ev(ep.poll(0), EP_BITS))
    ep.modify(nb, select.EPOLLIN | select.EPOLLOUT)
    print("LT IN|OUT", ev(ep.poll(0), EP_BITS))
    ep.close()
    os.close(nb)


def eventfd_threads():
    section("eventfd blocking calls woken by a thread")
    efd = os.eventfd(0)
    t = threading.Timer(0.02, os.eventfd_write, (efd, 42))
    t.start()
    show("blocking read", lambda: os.eventfd_read(efd))
    t.join()
    os.eventfd_write(efd, 0xFFFFFFFFFFFFFFFE)
    t = threading.Timer(0.02, os.eventfd_read, (efd,))
    t.start()
    show("blocking write at max, until the thread reads", lambda: os.eventfd_write(efd, 5))
    t.join()
    show("read", lambda: os.eventfd_read(efd))

    # A counter between threads: every increment arrives, in whatever batches.
    total = []

    def consumer():
        got = 0
        while got < 1000:
            select.select([efd], [], [], 10)
            got += os.eventfd_read(efd)
        total.append(got)

    os.set_blocking(efd, False)
    t = threading.Thread(target=consumer)
    t.start()
    for _ in range(1000):
        os.eventfd_write(efd, 1)
    t.join()
    print("1000 increments from another thread, consumer saw", total)
    os.close(efd)


def pipe_basics():
    section("pipe basics")
    r, w = os.pipe()
    names[r], names[w] = "r", "w"
    print("fds", r, w, "F_GETFL", flstr(r), flstr(w))
    print("inheritable", os.get_inheritable(r), os.get_inheritable(w),
          "blocking", os.get_blocking(r), os.get_blocking(w))
    print("fstat", kind(r), kind(w))
    show("write", lambda: os.write(w, b"hello pipe"))
    show("FIONREAD", lambda: fionread(r))
    show("read 5", lambda: os.read(r, 5))
    show("read rest", lambda: os.read(r, 100))
    show("writev", lambda: os.writev(w, [b"ab", b"", b"cde", b"fghij"]))
    bufs = [bytearray(3), bytearray(4), bytearray(10)]
    show("readv", lambda: os.readv(r, bufs))
    print("readv buffers", [bytes(b) for b in bufs])
    show("write on the read end", lambda: os.write(r, b"x"))
    show("read on the write end", lambda: os.read(w, 1))
    show("F_GETPIPE_SZ", lambda: fcntl.fcntl(r, F_GETPIPE_SZ))

    os.set_inheritable(w, True)
    print("set_inheritable(w, True):", os.get_inheritable(w),
          "FD_CLOEXEC", fcntl.fcntl(w, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)
    d = os.dup(r)
    print("dup(r)", d, "inheritable", os.get_inheritable(d), "F_GETFL", flstr(d))
    d2 = os.dup2(w, 50)
    print("dup2(w, 50)", d2, "inheritable", os.get_inheritable(50))
    os.write(50, b"via fd 50")
    show("read via dup", lambda: os.read(d, 100))
    os.set_blocking(d, False)
    print("set_blocking on the dup shows on the original (one open file):", flstr(r))
    show("read empty through the original", lambda: os.read(r, 10))
    os.set_blocking(r, True)
    os.close(w)
    os.write(50, b"still open via 50")
    os.close(50)
    show("read the last bytes", lambda: os.read(r, 100))
    show("read after every writer closed (EOF)", lambda: os.read(r, 100))
    os.close(d)
    os.close(r)

    r, w = os.pipe()
    os.close(r)
    show("write with no reader", lambda: os.write(w, b"x"))
    p = select.poll()
    p.register(w, select.POLLOUT)
    names[w] = "w"
    print("poll write end with no reader", ev(p.poll(0), POLL_BITS))
    os.close(w)

    r, w = os.pipe()
    names[r], names[w] = "r", "w"
    p = select.poll()
    p.register(r, select.POLLIN)
    p.register(w, select.POLLOUT)
    print("poll empty pipe", ev(p.poll(0), POLL_BITS))
    os.write(w, b"x")
    print("poll with data", ev(p.poll(0), POLL_BITS))
    os.close(w)
    p.unregister(w)
    print("poll after writer closed", ev(p.poll(0), POLL_BITS))
    os.read(r, 10)
    print("poll after reading the data", ev(p.poll(0), POLL_BITS))
    os.close(r)


def pipe_nonblocking_and_size():
    section("pipe2(O_NONBLOCK), filling, F_SETPIPE_SZ")
    r, w = os.pipe2(os.O_NONBLOCK)
    print("fds", r, w, "F_GETFL", flstr(r), flstr(w), "inheritable", os.get_inheritable(r))
    show("read empty", lambda: os.read(r, 10))

    def fill(chunk):
        total = 0
        try:
            while True:
                total += os.write(w, b"f" * chunk)
        except BlockingIOError as e:
            return f"{total} then {ename(e)}"

    def drain():
        total = 0
        try:
            while True:
                total += len(os.read(r, 1 << 20))
        except BlockingIOError:
            return total

    print("fill with 4096-byte writes:", fill(4096), "FIONREAD", fionread(r), "drained", drain())
    print("fill with 1000-byte writes:", fill(1000), "FIONREAD", fionread(r), "drained", drain())
    print("fill with 1-byte writes:", fill(1), "drained", drain())
    show("one 100000-byte write (partial)", lambda: os.write(w, b"p" * 100000))
    print("drained", drain())
    show("F_GETPIPE_SZ", lambda: fcntl.fcntl(w, F_GETPIPE_SZ))
    for size in (100000, 1, 0, 8192, 1 << 20, 65536):
        show(f"F_SETPIPE_SZ {size}", lambda: fcntl.fcntl(w, F_SETPIPE_SZ, size))
        show("  F_GETPIPE_SZ on the read end", lambda: fcntl.fcntl(r, F_GETPIPE_SZ))
    fcntl.fcntl(w, F_SETPIPE_SZ, 16384)
    print("size 16384, fill with 4096-byte writes:", fill(4096), "drained", drain())
    os.write(w, b"q" * 10000)
    show("F_SETPIPE_SZ 4096 with 10000 bytes queued", lambda: fcntl.fcntl(w, F_SETPIPE_SZ, 4096))
    show("F_SETPIPE_SZ 8192 with 10000 bytes queued", lambda: fcntl.fcntl(w, F_SETPIPE_SZ, 8192))
    show("F_SETPIPE_SZ 16384 with 10000 bytes queued", lambda: fcntl.fcntl(w, F_SETPIPE_SZ, 16384))
    print("drained", drain())
    fcntl.fcntl(w, fcntl.F_SETFL, 0)
    fcntl.fcntl(r, fcntl.F_SETFL, 0)
    print("after F_SETFL 0:", flstr(r), flstr(w), "blocking", os.get_blocking(r), os.get_blocking(w))
    fcntl.fcntl(r, fcntl.F_SETFL, os.O_NONBLOCK | os.O_APPEND)
    print("after F_SETFL O_NONBLOCK|O_APPEND on r:", flstr(r))
    os.close(r)
    os.close(w)

    section("pipe2(O_DIRECT): packet mode")
    r, w = os.pipe2(O_DIRECT | os.O_NONBLOCK)
    print("F_GETFL", flstr(r), flstr(w))
    for m in (b"one", b"two", b"three"):
        os.write(w, m)
    show("FIONREAD", lambda: fionread(r))
    for _ in range(3):
        show("read 100", lambda: os.read(r, 100))
    os.write(w, b"truncated packet")
    show("read 4", lambda: os.read(r, 4))
    show("rest dropped", lambda: os.read(r, 100))
    os.close(r)
    os.close(w)


def fstat_kinds():
    section("fstat kinds")
    r, w = os.pipe()
    a, b = socket.socketpair()
    efd = os.eventfd(0)
    ep = select.epoll()
    print("pipe read end:", kind(r), "| pipe write end:", kind(w))
    print("socket:", kind(a.fileno()), "| S_ISSOCK", stat.S_ISSOCK(os.fstat(b.fileno()).st_mode))
    print("eventfd:", kind(efd))
    print("epoll:", kind(ep.fileno()))
    print("pipe is not a socket", not stat.S_ISSOCK(os.fstat(r).st_mode),
          "| socket is not a FIFO", not stat.S_ISFIFO(os.fstat(a.fileno()).st_mode))
    print("pipe ends share an inode", os.fstat(r).st_ino == os.fstat(w).st_ino,
          "| socketpair ends do not", os.fstat(a.fileno()).st_ino != os.fstat(b.fileno()).st_ino)
    print("F_GETFL socket", flstr(a.fileno()), "epoll", flstr(ep.fileno()))
    show("F_GETPIPE_SZ on a socket", lambda: fcntl.fcntl(a.fileno(), F_GETPIPE_SZ))

    names.update({r: "r", w: "w", a.fileno(): "sock.0", b.fileno(): "sock.1", efd: "efd"})
    e2 = select.epoll()
    for fd in (r, w, a.fileno(), efd):
        e2.register(fd, select.EPOLLIN | select.EPOLLOUT)
    print("one epoll over pipe, socket, eventfd", ev(e2.poll(0), EP_BITS))
    os.write(w, b"x")
    b.send(b"y")
    os.eventfd_write(efd, 1)
    print("after writing to each", ev(e2.poll(0), EP_BITS))
    rl, wl, xl = select.select([r, a.fileno(), efd], [w, a.fileno(), efd], [], 0)
    print("select", [names[f] for f in rl], [names[f] for f in wl])
    e2.close()
    ep.close()
    os.close(efd)
    a.close()
    b.close()
    os.close(r)
    os.close(w)


def pipe_threads():
    section("pipes between threads")
    msgs = [f"msg {i:04d} ".encode() + b"#" * ((i * 37) % 3000) + b"\n" for i in range(600)]
    expect = b"".join(msgs)
    print("expect", len(expect), "bytes sha256", hashlib.sha256(expect).hexdigest()[:16])

    def writer(w, nonblocking):
        try:
            for m in msgs:
                if nonblocking:
                    view = memoryview(m)
                    while view:
                        select.select([], [w], [], 10)
                        try:
                            view = view[os.write(w, view):]
                        except BlockingIOError:
                            pass
                else:
                    os.write(w, m)
        finally:
            os.close(w)

    def collected(t, r, got):
        # The writer is done and the read end closed: what arrived, and its summary line.
        t.join()
        os.close(r)
        data = b"".join(got)
        return data, (len(data), hashlib.sha256(data).hexdigest()[:16], "same", data == expect)

    # 1: blocking writer; reader waits in select.select.
    r, w = os.pipe()
    t = threading.Thread(target=writer, args=(w, False))
    t.start()
    got, waits = [], 0
    while True:
        rl, _, _ = select.select([r], [], [], 10)
        if not rl:
            print("select timed out!")
            break
        d = os.read(r, 65536)
        if not d:
            break
        got.append(d)
    data, summary = collected(t, r, got)
    print("select reader:", *summary, "lines", data.count(b"\n"))

    # 2: non-blocking writer waiting for POLLOUT in select; small pipe; reader in poll.
    r, w = os.pipe2(os.O_NONBLOCK)
    fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
    t = threading.Thread(target=writer, args=(w, True))
    t.start()
    p = select.poll()
    p.register(r, select.POLLIN)
    got = []
    while True:
        if not p.poll(10000):
            print("poll timed out!")
            break
        try:
            d = os.read(r, 1000)
        except BlockingIOError:
            continue
        if not d:
            break
        got.append(d)
    print("poll reader, 4096-byte pipe:", *collected(t, r, got)[1])

    # 3: reader in epoll, edge-triggered, reading until EAGAIN each time.
    r, w = os.pipe2(os.O_NONBLOCK)
    os.set_blocking(w, True)
    ep = select.epoll()
    ep.register(r, select.EPOLLIN | select.EPOLLET)
    t = threading.Thread(target=writer, args=(w, False))
    t.start()
    got, eof = [], False
    while not eof:
        if not ep.poll(10):
            print("epoll timed out!")
            break
        while True:
            try:
                d = os.read(r, 65536)
            except BlockingIOError:
                break
            if not d:
                eof = True
                break
            got.append(d)
    print("epoll ET reader:", *collected(t, r, got)[1])
    ep.close()


def main():
    eventfd_basics()
    eventfd_threads()
    pipe_basics()
    pipe_nonblocking_and_size()
    fstat_kinds()
    pipe_threads()
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
