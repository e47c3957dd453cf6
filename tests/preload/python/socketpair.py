"""socket.socketpair() in all three AF_UNIX types, as a real program uses it.

Run natively and under ustack-run by tests/preload/run_compare.sh: stdout must be the same
byte for byte. So every line is deterministic: values, errno names, fd numbers (ustack hands
out the lowest free fd as Linux does), never timings, pids or addresses.

Covers: send/recv/recv_into/recvfrom/MSG_PEEK/MSG_DONTWAIT, coalescing on streams and message
boundaries on SOCK_DGRAM and SOCK_SEQPACKET (with MSG_TRUNC), sendall of 4 MiB with a reader
thread (blocking and with a timeout), shutdown in each direction, recv after the peer's close
(b'' and ECONNRESET), non-blocking EAGAIN, getsockopt (SO_TYPE, SO_DOMAIN, SO_PROTOCOL,
SO_PEERCRED, ...), SO_SNDBUF/SO_RCVBUF read-back, SO_RCVTIMEO, FIONREAD, socket.fromfd/dup/
socket(fileno=...), scatter/gather sendmsg/recvmsg_into, SCM_RIGHTS (pipes and sockets passed,
several per message, MSG_CTRUNC, MSG_CMSG_CLOEXEC), SCM_CREDENTIALS and settimeout.
"""
import array
import errno
import fcntl
import hashlib
import os
import random
import socket
import struct
import sys
import termios
import threading

from common import ename, section, show

AF_UNIX = socket.AF_UNIX
SOL_SOCKET = socket.SOL_SOCKET


def sockopt(s, name):
    return s.getsockopt(SOL_SOCKET, getattr(socket, name))


def flagnames(flags):
    names = [n for n in ("MSG_TRUNC", "MSG_CTRUNC", "MSG_OOB", "MSG_ERRQUEUE")
             if flags & getattr(socket, n)]
    return "|".join(names) or "0"


def fionread(s):
    buf = array.array("i", [0])
    fcntl.ioctl(s.fileno(), termios.FIONREAD, buf, True)
    return buf[0]


def stream_basics():
    section("stream basics")
    a, b = socket.socketpair()
    print("fds", a.fileno(), b.fileno())
    print("family/type/proto", a.family.name, a.type.name, a.proto)
    for name in ("SO_TYPE", "SO_DOMAIN", "SO_PROTOCOL", "SO_ACCEPTCONN", "SO_ERROR",
                 "SO_RCVLOWAT", "SO_SNDLOWAT", "SO_PASSCRED", "SO_KEEPALIVE"):
        print(name, sockopt(a, name))
    print("SO_TYPE is SOCK_STREAM", sockopt(a, "SO_TYPE") == socket.SOCK_STREAM)
    print("SO_LINGER", struct.unpack("ii", a.getsockopt(SOL_SOCKET, socket.SO_LINGER, 8)))
    print("SO_RCVTIMEO initial", struct.unpack("ll", a.getsockopt(SOL_SOCKET, socket.SO_RCVTIMEO, 16)))
    pid, uid, gid = struct.unpack("3i", a.getsockopt(SOL_SOCKET, socket.SO_PEERCRED, 12))
    print("SO_PEERCRED is ours", pid == os.getpid(), uid == os.getuid(), gid == os.getgid())
    print("getsockname", repr(a.getsockname()), "getpeername", repr(a.getpeername()))
    print("blocking", a.getblocking(), "timeout", a.gettimeout())
    print("inheritable", a.get_inheritable())

    show("send hello", lambda: a.send(b"hello"))
    show("FIONREAD", lambda: fionread(b))
    show("recv", lambda: b.recv(100))
    show("send ab", lambda: a.send(b"ab"))
    show("send cd", lambda: a.send(b"cd"))
    show("recv coalesces", lambda: b.recv(100))
    show("sendall xyz", lambda: a.sendall(b"xyz"))
    show("recv MSG_PEEK", lambda: b.recv(100, socket.MSG_PEEK))
    show("recv 2", lambda: b.recv(2))
    show("recvfrom", lambda: b.recvfrom(100))
    a.send(b"into-buffer")
    buf = bytearray(8)
    show("recv_into 8", lambda: b.recv_into(buf))
    print("buffer", bytes(buf))
    show("recv rest", lambda: b.recv(100))
    show("recv MSG_DONTWAIT empty", lambda: b.recv(100, socket.MSG_DONTWAIT))
    show("send other way", lambda: b.send(b"reply"))
    show("recv other way", lambda: a.recv(100))
    show("sendmsg gather", lambda: a.sendmsg([b"ab", b"", b"cde", b"f"]))
    bufs = [bytearray(2), bytearray(3), bytearray(10)]
    show("recvmsg_into scatter", lambda: b.recvmsg_into(bufs)[0])
    print("scatter buffers", [bytes(x) for x in bufs])
    show("send empty", lambda: a.send(b""))
    show("recv after empty send", lambda: b.recv(10, socket.MSG_DONTWAIT))
    a.close()
    b.close()


def sndbuf():
    section("SO_SNDBUF / SO_RCVBUF")
    a, b = socket.socketpair()
    print("default SO_SNDBUF positive", sockopt(a, "SO_SNDBUF") > 0)
    for v in (8192, 65536, 100000):
        a.setsockopt(SOL_SOCKET, socket.SO_SNDBUF, v)
        print("SO_SNDBUF set", v, "reads", sockopt(a, "SO_SNDBUF"))
    for v in (16384, 50000):
        b.setsockopt(SOL_SOCKET, socket.SO_RCVBUF, v)
        print("SO_RCVBUF set", v, "reads", sockopt(b, "SO_RCVBUF"))
    a.close()
    b.close()


def nonblocking():
    section("non-blocking")
    a, b = socket.socketpair()
    a.setblocking(False)
    print("blocking", a.getblocking(), "timeout", a.gettimeout())
    print("O_NONBLOCK set", bool(fcntl.fcntl(a, fcntl.F_GETFL) & os.O_NONBLOCK))
    show("recv empty", lambda: a.recv(10))
    try:
        a.recv(10)
    except BlockingIOError as e:
        print("BlockingIOError errno is EAGAIN", e.errno == errno.EAGAIN)
    chunk = b"z" * 65536
    total = 0
    try:
        while True:
            total += a.send(chunk)
    except BlockingIOError as e:
        print("send until full: BlockingIOError", ename(e), "after some bytes", total > 0)
    b.setblocking(False)
    got = 0
    try:
        while True:
            d = b.recv(1 << 20)
            if not d:
                break
            got += len(d)
    except BlockingIOError as e:
        print("drained until", ename(e), "same count", got == total)
    a.setblocking(True)
    print("blocking again", a.getblocking(),
          "O_NONBLOCK", bool(fcntl.fcntl(a, fcntl.F_GETFL) & os.O_NONBLOCK))
    a.close()
    b.close()

    c, d = socket.socketpair(AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    print("SOCK_NONBLOCK pair: type", c.type.name, "blocking", c.getblocking(), d.getblocking())
    show("SOCK_NONBLOCK recv", lambda: d.recv(1))
    c.close()
    d.close()


def big_transfer():
    section("sendall 4 MiB with a reader thread")
    data = random.Random(7).randbytes(4 << 20)
    print("sha256 sent", hashlib.sha256(data).hexdigest()[:16])
    for mode in ("blocking", "settimeout(10)"):
        a, b = socket.socketpair()
        if mode != "blocking":
            a.settimeout(10)
            b.settimeout(10)
        got = []
        errors = []

        def reader():
            try:
                while True:
                    d = b.recv(65536)
                    if not d:
                        break
                    got.append(d)
            except Exception as e:  # reported on stdout, not lost in a thread
                errors.append(repr(e))

        t = threading.Thread(target=reader)
        t.start()
        r = a.sendall(data)
        a.shutdown(socket.SHUT_WR)
        t.join()
        whole = b"".join(got)
        print(mode, "sendall returned", r, "received", len(whole),
              "sha256", hashlib.sha256(whole).hexdigest()[:16], "errors", errors)
        a.close()
        b.close()


def shutdowns():
    section("shutdown")
    a, b = socket.socketpair()
    show("a.shutdown(SHUT_WR)", lambda: a.shutdown(socket.SHUT_WR))
    show("b.recv after a's SHUT_WR", lambda: b.recv(10))
    show("b.recv again", lambda: b.recv(10))
    show("a.send after SHUT_WR", lambda: a.send(b"x"))
    show("b.send still works", lambda: b.send(b"back"))
    show("a.recv", lambda: a.recv(10))
    show("b.shutdown(SHUT_RD)", lambda: b.shutdown(socket.SHUT_RD))
    show("b.send after own SHUT_RD", lambda: b.send(b"y"))
    show("a.recv", lambda: a.recv(10))
    show("shutdown(7)", lambda: a.shutdown(7))
    a.close()
    b.close()

    a, b = socket.socketpair()
    b.send(b"keep")
    show("a.shutdown(SHUT_RDWR)", lambda: a.shutdown(socket.SHUT_RDWR))
    show("a.recv queued data after SHUT_RDWR", lambda: a.recv(10))
    show("a.recv then", lambda: a.recv(10))
    show("b.send to peer with SHUT_RD", lambda: b.send(b"more"))
    show("b.recv", lambda: b.recv(10))
    a.close()
    b.close()


def peer_close():
    section("peer close")
    a, b = socket.socketpair()
    b.close()
    show("recv after peer close", lambda: a.recv(10))
    show("recv again", lambda: a.recv(10))
    show("send after peer close", lambda: a.send(b"x"))
    a.close()

    a, b = socket.socketpair()
    b.send(b"queued for a")
    b.close()
    show("recv data queued before close", lambda: a.recv(100))
    show("then", lambda: a.recv(100))
    a.close()

    a, b = socket.socketpair()
    a.send(b"never read")
    b.close()
    show("recv after peer closed with our data unread", lambda: a.recv(10))
    show("recv again", lambda: a.recv(10))
    show("SO_ERROR now", lambda: sockopt(a, "SO_ERROR"))
    show("send", lambda: a.send(b"x"))
    a.close()


def unconnected():
    section("unconnected stream socket")
    s = socket.socket(AF_UNIX, socket.SOCK_STREAM)
    print("fd", s.fileno())
    show("send", lambda: s.send(b"x"))
    show("recv", lambda: s.recv(1))
    show("getpeername", s.getpeername)
    show("getsockname", s.getsockname)
    show("shutdown", lambda: s.shutdown(socket.SHUT_RDWR))
    s.close()


def dgram():
    section("SOCK_DGRAM socketpair")
    a, b = socket.socketpair(AF_UNIX, socket.SOCK_DGRAM)
    print("fds", a.fileno(), b.fileno(), "type", a.type.name, "SO_TYPE is SOCK_DGRAM",
          sockopt(a, "SO_TYPE") == socket.SOCK_DGRAM)
    for m in (b"one", b"two", b"three"):
        a.send(m)
    show("FIONREAD (next datagram)", lambda: fionread(b))
    for _ in range(3):
        show("recv", lambda: b.recv(100))
    a.send(b"hello world")
    show("recv 5 of 11", lambda: b.recv(5))
    show("rest discarded", lambda: b.recv(100, socket.MSG_DONTWAIT))
    a.send(b"truncate me")
    data, anc, flags, addr = b.recvmsg(4)
    print("recvmsg 4:", data, anc, flagnames(flags), repr(addr))
    a.send(b"peek")
    show("MSG_PEEK", lambda: b.recv(100, socket.MSG_PEEK))
    show("recvfrom", lambda: b.recvfrom(100))
    show("send empty datagram", lambda: a.send(b""))
    show("recv empty datagram", lambda: b.recv(100))
    show("sendmsg gather", lambda: a.sendmsg([b"x1", b"y22", b"z333"]))
    show("one datagram", lambda: b.recv(100))
    b.setblocking(False)
    show("non-blocking recv empty", lambda: b.recv(100))
    show("b.send back", lambda: b.send(b"back"))
    show("a.recv", lambda: a.recv(100))
    b.close()
    show("send after peer close", lambda: a.send(b"x"))
    show("send again", lambda: a.send(b"x"))
    show("recv MSG_DONTWAIT", lambda: a.recv(100, socket.MSG_DONTWAIT))
    a.close()


def seqpacket():
    section("SOCK_SEQPACKET socketpair")
    a, b = socket.socketpair(AF_UNIX, socket.SOCK_SEQPACKET)
    print("fds", a.fileno(), b.fileno(), "type", a.type.name, "SO_TYPE is SOCK_SEQPACKET",
          sockopt(a, "SO_TYPE") == socket.SOCK_SEQPACKET)
    a.send(b"alpha")
    a.send(b"beta")
    show("recv", lambda: b.recv(100))
    show("recv", lambda: b.recv(100))
    a.send(b"gamma-long-record")
    data, anc, flags, addr = b.recvmsg(3)
    print("recvmsg 3:", data, anc, flagnames(flags))
    show("rest discarded", lambda: b.recv(100, socket.MSG_DONTWAIT))
    show("sendmsg gather", lambda: a.sendmsg([b"r1", b"r2"]))
    show("one record", lambda: b.recv(100))
    show("b.send", lambda: b.send(b"to-a"))
    show("a.recv", lambda: a.recv(100))
    a.send(b"last words")
    a.close()
    show("recv record queued before close", lambda: b.recv(100))
    show("recv after peer close", lambda: b.recv(100))
    show("send after peer close", lambda: b.send(b"x"))
    b.close()


def dup_fromfd():
    section("fromfd / dup / socket(fileno=)")
    a, b = socket.socketpair()
    print("pair fds", a.fileno(), b.fileno())
    c = socket.fromfd(a.fileno(), AF_UNIX, socket.SOCK_STREAM)
    print("fromfd fd", c.fileno(), "differs", c.fileno() != a.fileno(),
          "inheritable", c.get_inheritable())
    c.send(b"via fromfd")
    show("b.recv", lambda: b.recv(100))
    d = a.dup()
    print("dup fd", d.fileno())
    e = socket.socket(fileno=os.dup(a.fileno()))
    print("socket(fileno=) fd", e.fileno(), "detected", e.family.name, e.type.name, e.proto)
    a.close()
    c.close()
    show("send through dup after closing original", lambda: d.send(b"via dup"))
    show("send through socket(fileno=)", lambda: e.send(b"+fileno"))
    show("b.recv", lambda: b.recv(100))
    d.close()
    show("b.recv while one dup still open", lambda: b.recv(100, socket.MSG_DONTWAIT))
    e.close()
    show("b.recv after all dups closed", lambda: b.recv(100))
    b.close()
    for kind in (socket.SOCK_DGRAM, socket.SOCK_SEQPACKET):
        x, y = socket.socketpair(AF_UNIX, kind)
        z = socket.socket(fileno=os.dup(x.fileno()))
        print("socket(fileno=) of", kind.name, "detects", z.family.name, z.type.name)
        for s in (x, y, z):
            s.close()


def scm_rights():
    section("SCM_RIGHTS")
    a, b = socket.socketpair()
    r, w = os.pipe()
    print("pipe fds", r, w)
    os.write(w, b"data read through a passed pipe")
    os.close(w)
    show("send_fds", lambda: socket.send_fds(a, [b"fds!"], [r]))
    os.close(r)
    msg, fds, flags, addr = socket.recv_fds(b, 100, 4)
    print("recv_fds:", msg, "nfds", len(fds), "fds", fds, "flags", flagnames(flags))
    print("received fd is a FIFO", os.path.stat.S_ISFIFO(os.fstat(fds[0]).st_mode))
    print("received fd inheritable (no MSG_CMSG_CLOEXEC)", os.get_inheritable(fds[0]))
    show("read through passed fd", lambda: os.read(fds[0], 100))
    show("then EOF", lambda: os.read(fds[0], 100))
    os.close(fds[0])

    # A socket passed over a socket; the receiver talks through it.
    x, y = socket.socketpair()
    a.sendmsg([b"sock"], [(SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [x.fileno()]))])
    x.close()
    data, anc, flags, addr = b.recvmsg(100, socket.CMSG_SPACE(4))
    print("recvmsg:", data, [(lv == SOL_SOCKET, ty == socket.SCM_RIGHTS, len(d)) for lv, ty, d in anc],
          flagnames(flags))
    fd = array.array("i", anc[0][2])[0]
    print("received socket fd", fd)
    xs = socket.socket(fileno=fd)
    print("received socket detected as", xs.family.name, xs.type.name)
    xs.send(b"through the passed socket")
    show("peer of passed socket reads", lambda: y.recv(100))
    y.send(b"and back")
    show("passed socket reads", lambda: xs.recv(100))
    xs.close()
    y.close()

    # Three pipes in one message, received at the lowest free fds.
    pipes = [os.pipe() for _ in range(3)]
    for i, (pr, pw) in enumerate(pipes):
        os.write(pw, f"pipe {i}".encode())
        os.close(pw)
    socket.send_fds(a, [b"three"], [pr for pr, _ in pipes])
    for pr, _ in pipes:
        os.close(pr)
    msg, fds, flags, addr = socket.recv_fds(b, 100, 3)
    print("three fds:", msg, fds, flagnames(flags), [os.read(f, 100) for f in fds])
    for f in fds:
        os.close(f)

    # Room for one fd of two: one installed, MSG_CTRUNC.
    p1, p2 = os.pipe(), os.pipe()
    os.write(p1[1], b"first")
    socket.send_fds(a, [b"two"], [p1[0], p2[0]])
    for f in (*p1, *p2):
        os.close(f)
    msg, fds, flags, addr = socket.recv_fds(b, 100, 1)
    print("control room for one:", msg, "nfds", len(fds), "flags", flagnames(flags))
    show("read through the one received", lambda: os.read(fds[0], 100))
    os.close(fds[0])

    # MSG_CMSG_CLOEXEC.
    p = os.pipe()
    socket.send_fds(a, [b"cloexec"], [p[0]])
    # (socket.recv_fds drops its flags argument in 3.11: recvmsg directly.)
    msg, anc, flags, addr = b.recvmsg(100, socket.CMSG_SPACE(4), socket.MSG_CMSG_CLOEXEC)
    fds = list(array.array("i", anc[0][2]))
    print("MSG_CMSG_CLOEXEC: fd", fds[0], "inheritable", os.get_inheritable(fds[0]),
          "FD_CLOEXEC", fcntl.fcntl(fds[0], fcntl.F_GETFD) & fcntl.FD_CLOEXEC)
    for f in (*p, *fds):
        os.close(f)

    show("send_fds bad fd", lambda: socket.send_fds(a, [b"bad"], [9999]))
    show("nothing queued after the failed send", lambda: b.recv(100, socket.MSG_DONTWAIT))

    # A stream read glues plain data onto the data carrying fds but stops after the latter.
    p = os.pipe()
    a.send(b"plain-")
    socket.send_fds(a, [b"with-fd"], [p[0]])
    a.send(b"-plain")
    want = len(b"plain-with-fd-plain")
    while want > 0:
        msg, fds, flags, addr = socket.recv_fds(b, 100, 1)
        print("read:", msg, "nfds", len(fds))
        want -= len(msg)
        for f in fds:
            os.close(f)
    for f in p:
        os.close(f)
    a.close()
    b.close()

    # SCM_RIGHTS on a datagram pair.
    a, b = socket.socketpair(AF_UNIX, socket.SOCK_DGRAM)
    r, w = os.pipe()
    os.write(w, b"over dgram")
    socket.send_fds(a, [b"dg"], [r])
    os.close(r)
    os.close(w)
    msg, fds, flags, addr = socket.recv_fds(b, 100, 2)
    print("dgram recv_fds:", msg, "nfds", len(fds), "addr", repr(addr))
    show("read", lambda: os.read(fds[0], 100))
    os.close(fds[0])
    a.close()
    b.close()


def scm_credentials():
    section("SCM_CREDENTIALS")
    a, b = socket.socketpair()
    b.setsockopt(SOL_SOCKET, socket.SO_PASSCRED, 1)
    print("SO_PASSCRED", sockopt(b, "SO_PASSCRED"))
    a.send(b"who")
    data, anc, flags, addr = b.recvmsg(100, socket.CMSG_SPACE(12))
    print("data", data, "cmsgs", len(anc))
    for lv, ty, d in anc:
        pid, uid, gid = struct.unpack("3i", d)
        print("SCM_CREDENTIALS", lv == SOL_SOCKET, ty == socket.SCM_CREDENTIALS,
              "ours", pid == os.getpid(), uid == os.getuid(), gid == os.getgid())
    a.close()
    b.close()


def timeouts():
    section("timeouts")
    a, b = socket.socketpair()
    b.settimeout(0.05)
    print("gettimeout", b.gettimeout(), "blocking", b.getblocking())
    try:
        b.recv(10)
        print("recv returned?!")
    except socket.timeout as e:
        print("recv raised socket.timeout:", type(e).__name__, e.args)
    a.send(b"in time")
    show("recv with data waiting", lambda: b.recv(100))
    a.settimeout(0.05)
    total = 0
    try:
        while True:
            total += a.send(b"w" * 65536)
    except socket.timeout as e:
        print("send on full socket raised socket.timeout", type(e).__name__, "after bytes", total > 0)
    a.close()
    b.close()

    a, b = socket.socketpair()
    b.setsockopt(SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 40000))
    print("SO_RCVTIMEO reads", struct.unpack("ll", b.getsockopt(SOL_SOCKET, socket.SO_RCVTIMEO, 16)))
    show("blocking recv with SO_RCVTIMEO", lambda: b.recv(10))
    a.close()
    b.close()


def main():
    stream_basics()
    sndbuf()
    nonblocking()
    big_transfer()
    shutdowns()
    peer_close()
    unconnected()
    dgram()
    seqpacket()
    dup_fromfd()
    scm_rights()
    scm_credentials()
    timeouts()
    print("done")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
