"""selectors.EpollSelector, select.epoll, select.poll and select.select over socketpairs.

Run natively and under ustack-run by tests/preload/run_compare.sh: stdout must be the same
byte for byte. Event lists are printed in the order the kernel returns them (the ready list's
order is deterministic when one thread drives it), with fds shown by name.

Covers: DefaultSelector is EpollSelector; register/modify/unregister and their errors; an echo
server on one EpollSelector serving six client threads (READ/WRITE interest switched with
modify) until every client is done, with per-client transcripts; select.epoll level-triggered,
EPOLLET (including the EPOLLOUT edge a reader's consumption raises), EPOLLONESHOT and re-arming,
EPOLLRDHUP/EPOLLHUP, maxevents round robin, nested epoll and ELOOP, EEXIST/ENOENT/EINVAL/EBADF,
a blocked epoll.poll/poll/select woken by another thread; select.poll (POLLNVAL, POLLHUP,
POLLRDHUP) and select.select on the same sockets.
"""
import hashlib
import select
import selectors
import socket
import sys
import threading

import common
from common import bits, ename, section

EP_BITS = [(n[5:], getattr(select, n)) for n in (
    "EPOLLIN", "EPOLLPRI", "EPOLLOUT", "EPOLLERR", "EPOLLHUP", "EPOLLRDNORM", "EPOLLRDBAND",
    "EPOLLWRNORM", "EPOLLWRBAND", "EPOLLMSG", "EPOLLRDHUP")]
POLL_BITS = [(n[4:], getattr(select, n)) for n in (
    "POLLIN", "POLLPRI", "POLLOUT", "POLLERR", "POLLHUP", "POLLNVAL", "POLLRDNORM",
    "POLLRDBAND", "POLLWRNORM", "POLLWRBAND", "POLLMSG", "POLLRDHUP")]
SEL_BITS = [("READ", selectors.EVENT_READ), ("WRITE", selectors.EVENT_WRITE)]

names = {}  # fd -> name, for printing


def show(label, fn):
    common.show(label, fn, (KeyError, ValueError))


def pair(name):
    a, b = socket.socketpair()
    names[a.fileno()] = name + ".0"
    names[b.fileno()] = name + ".1"
    return a, b


def epev(evs):
    return [f"{names.get(fd, fd)}:{bits(m, EP_BITS)}" for fd, m in evs]


def pollev(evs):
    return [f"{names.get(fd, fd)}:{bits(m, POLL_BITS)}" for fd, m in evs]


def selev(evs):
    return [f"{k.data}:{bits(m, SEL_BITS)}" for k, m in evs]


def sockname(s):
    return names.get(s.fileno(), s.fileno())


def selector_api():
    section("selectors API")
    d = selectors.DefaultSelector()
    print("DefaultSelector", type(d).__name__, "is EpollSelector", type(d) is selectors.EpollSelector)
    d.close()
    assert type(selectors.DefaultSelector()) is selectors.EpollSelector
    sel = selectors.EpollSelector()
    a, b = pair("p")
    key = sel.register(a, selectors.EVENT_READ, data="p.0")
    print("key", key.fd == a.fileno(), key.events, key.data)
    print("select(0) idle", selev(sel.select(0)))
    b.send(b"x")
    print("after peer send", selev(sel.select(0)))
    print("level-triggered: again", selev(sel.select(0)))
    key = sel.modify(a, selectors.EVENT_READ | selectors.EVENT_WRITE, data="p.0+w")
    print("modified", key.events, key.data, selev(sel.select(0)))
    key = sel.modify(a, selectors.EVENT_WRITE, data="p.0 write only")
    print("modified", key.events, selev(sel.select(0)))
    show("register again", lambda: sel.register(a, selectors.EVENT_READ))
    show("register bad events", lambda: sel.register(b, 0))
    show("register -1", lambda: sel.register(-1, selectors.EVENT_READ))
    sel.register(b, selectors.EVENT_WRITE, data="p.1")
    print("map", sorted(k.data for k in sel.get_map().values()))
    print("get_key", sel.get_key(b).data)
    print("two writable", sorted(selev(sel.select(0))))
    sel.modify(a, selectors.EVENT_READ, "p.0")
    sel.modify(b, selectors.EVENT_READ, "p.1")
    print("both READ only", selev(sel.select(0)))
    show("recv", lambda: a.recv(10))
    print("after draining", selev(sel.select(0.02)))
    sel.unregister(a)
    show("unregister again", lambda: sel.unregister(a))
    show("get_key unregistered", lambda: sel.get_key(a))
    b.close()  # closing a registered fd takes it out of the epoll set
    print("peer closed: a not registered, b closed", selev(sel.select(0)))
    sel.unregister(b)
    a.close()
    sel.close()


def echo_server():
    section("EpollSelector echo server, 6 client threads")
    nclients, nmsgs = 6, 15
    sel = selectors.EpollSelector()
    clients = []
    for i in range(nclients):
        s, c = socket.socketpair()
        s.setblocking(False)
        clients.append(c)
        sel.register(s, selectors.EVENT_READ,
                     data={"id": i, "pending": b"", "eof": False, "bytes": 0, "sha": hashlib.sha256()})

    transcripts = [[] for _ in range(nclients)]

    def client(i):
        c = clients[i]
        try:
            for j in range(nmsgs):
                msg = f"c{i}-m{j}:".encode() + bytes([65 + (i * 7 + j) % 26]) * ((i * 131 + j * 977) % 3000)
                c.sendall(msg)
                got = b""
                while len(got) < len(msg):
                    d = c.recv(len(msg) - len(got))
                    if not d:
                        break
                    got += d
                transcripts[i].append(f"{msg[:msg.index(b':')].decode()} {len(msg)}B echoed={got == msg}")
            c.shutdown(socket.SHUT_WR)
            tail = c.recv(100)
            transcripts[i].append(f"eof after shutdown: {tail!r}")
        except Exception as e:  # reported on stdout, not lost in a thread
            transcripts[i].append(f"client error {e!r}")
        finally:
            c.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(nclients)]
    for t in threads:
        t.start()
    served = {}
    stalled = False
    while sel.get_map():
        events = sel.select(timeout=10)
        if not events:
            stalled = True
            break
        for key, mask in events:
            st, s = key.data, key.fileobj
            if mask & selectors.EVENT_READ:
                d = s.recv(65536)
                if d:
                    st["pending"] += d
                    st["bytes"] += len(d)
                    st["sha"].update(d)
                    sel.modify(s, selectors.EVENT_WRITE, st)  # stop reading until flushed
                else:
                    st["eof"] = True
                    if not st["pending"]:
                        sel.unregister(s)
                        served[st["id"]] = st
                        s.close()
            elif mask & selectors.EVENT_WRITE:
                n = s.send(st["pending"])
                st["pending"] = st["pending"][n:]
                if not st["pending"]:
                    if st["eof"]:
                        sel.unregister(s)
                        served[st["id"]] = st
                        s.close()
                    else:
                        sel.modify(s, selectors.EVENT_READ, st)
    for t in threads:
        t.join()
    print("stalled", stalled)
    for i in range(nclients):
        st = served.get(i)
        print(f"client {i}: server got {st['bytes'] if st else None} bytes "
              f"sha256 {st['sha'].hexdigest()[:16] if st else None}")
        for line in transcripts[i]:
            print("   ", line)
    sel.close()


def epoll_level():
    section("epoll level-triggered")
    ep = select.epoll()
    a, b = pair("lt")
    names[ep.fileno()] = "ep"
    print("epoll fd", ep.fileno(), "socket fds", a.fileno(), b.fileno())
    ep.register(a, select.EPOLLIN)
    print("idle", epev(ep.poll(0)))
    b.send(b"xy")
    print("after send", epev(ep.poll(0)))
    print("again (LT)", epev(ep.poll(0)))
    a.recv(1)
    print("one byte left", epev(ep.poll(0)))
    a.recv(1)
    print("drained", epev(ep.poll(0)))
    ep.register(b, select.EPOLLIN | select.EPOLLOUT)
    print("b registered IN|OUT", epev(ep.poll(0)))
    ep.modify(a, select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDNORM | select.EPOLLWRNORM)
    print("a modified with RDNORM|WRNORM", epev(ep.poll(0)))
    b.send(b"z")
    print("a readable too", epev(ep.poll(0)))
    show("register again", lambda: ep.register(a, select.EPOLLIN))
    ep.unregister(b)
    show("unregister again", lambda: ep.unregister(b))
    show("modify unregistered", lambda: ep.modify(b, select.EPOLLIN))
    show("register epoll in itself", lambda: ep.register(ep.fileno(), select.EPOLLIN))
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    closed_fd = c.fileno()
    c.close()
    show("register closed fd", lambda: ep.register(closed_fd, select.EPOLLIN))
    show("poll maxevents=0", lambda: ep.poll(0, 0))
    a.close()
    b.close()
    ep.close()
    show("poll on closed epoll", lambda: ep.poll(0))


def epoll_edge():
    section("epoll EPOLLET")
    ep = select.epoll()
    a, b = pair("et")
    ep.register(a, select.EPOLLIN | select.EPOLLET)
    print("idle", epev(ep.poll(0)))
    b.send(b"1")
    print("send 1", epev(ep.poll(0)))
    print("no new edge", epev(ep.poll(0)))
    b.send(b"2")
    print("send 2: new edge", epev(ep.poll(0)))
    print("no new edge", epev(ep.poll(0)))
    print("read", a.recv(100))
    print("after read", epev(ep.poll(0)))
    ep.register(b, select.EPOLLOUT | select.EPOLLET)
    print("b OUT edge on register", epev(ep.poll(0)))
    print("no new edge", epev(ep.poll(0)))
    b.send(b"345")
    print("b sent; a's IN edge", epev(ep.poll(0)))
    a.recv(1)
    print("a read part of the skb: nothing freed", epev(ep.poll(0)))
    a.recv(100)
    print("a consumed the skb: b's write space, OUT edge", epev(ep.poll(0)))
    print("no new edge", epev(ep.poll(0)))
    b.send(b"6")
    print("b sent again", epev(ep.poll(0)))
    ep.modify(a, select.EPOLLIN | select.EPOLLET)
    print("re-armed by modify while data waits", epev(ep.poll(0)))
    a.recv(100)
    b.shutdown(socket.SHUT_WR)
    ep.modify(a, select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET)
    print("peer SHUT_WR", epev(ep.poll(0)))
    print("no new edge", epev(ep.poll(0)))
    a.close()
    b.close()
    ep.close()


def epoll_oneshot():
    section("epoll EPOLLONESHOT")
    ep = select.epoll()
    a, b = pair("os")
    ep.register(a, select.EPOLLIN | select.EPOLLONESHOT)
    b.send(b"x")
    print("first", epev(ep.poll(0)))
    print("disabled", epev(ep.poll(0)))
    b.send(b"y")
    print("more data, still disabled", epev(ep.poll(0)))
    ep.modify(a, select.EPOLLIN | select.EPOLLONESHOT)
    print("re-armed", epev(ep.poll(0)))
    print("disabled again", epev(ep.poll(0)))
    show("register again while disabled", lambda: ep.register(a, select.EPOLLIN))
    ep.modify(a, select.EPOLLIN)
    print("modified to plain LT", epev(ep.poll(0)), epev(ep.poll(0)))
    ep.modify(a, select.EPOLLIN | select.EPOLLET | select.EPOLLONESHOT)
    print("ET|ONESHOT with data waiting", epev(ep.poll(0)), epev(ep.poll(0)))
    a.close()
    b.close()
    ep.close()


def epoll_hup():
    section("epoll HUP / RDHUP")
    ep = select.epoll()
    a, b = pair("hup")
    ep.register(a, select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP)
    print("connected", epev(ep.poll(0)))
    b.shutdown(socket.SHUT_WR)
    print("peer SHUT_WR", epev(ep.poll(0)))
    a.shutdown(socket.SHUT_WR)
    print("both SHUT_WR", epev(ep.poll(0)))
    c, d = pair("hup2")
    ep.register(c, select.EPOLLIN | select.EPOLLOUT)
    d.send(b"last")
    d.close()
    print("peer closed with data queued (no RDHUP asked)", epev(ep.poll(0)))
    e, f = pair("hup3")
    ep.register(e, select.EPOLLIN | select.EPOLLRDHUP)
    e.send(b"unread")
    f.close()
    print("peer closed with our data unread", epev(ep.poll(0)))
    show("recv", lambda: e.recv(10))
    print("after the error is read", epev(ep.poll(0)))
    x, y = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    names[x.fileno()], names[y.fileno()] = "dg.0", "dg.1"
    ep.register(x, select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP)
    print("dgram pair", epev(ep.poll(0)))
    y.close()
    print("dgram peer closed", epev(ep.poll(0)))
    for s in (a, b, c, e, x):
        s.close()
    ep.close()


def epoll_round_robin():
    section("epoll maxevents round robin")
    ep = select.epoll()
    socks = []
    for n in ("rr-x", "rr-y", "rr-z"):
        a, b = pair(n)
        ep.register(a, select.EPOLLIN)
        b.send(b"!")
        socks += [a, b]
    print("all", epev(ep.poll(0)))
    print("maxevents=1 x5", [epev(ep.poll(0, 1)) for _ in range(5)])
    print("maxevents=2 x3", [epev(ep.poll(0, 2)) for _ in range(3)])
    socks[2].recv(1)  # rr-y.0 drained
    print("rr-y drained", [epev(ep.poll(0, 1)) for _ in range(3)])
    for s in socks:
        s.close()
    ep.close()


def epoll_nested():
    section("nested epoll")
    inner, outer = select.epoll(), select.epoll()
    names[inner.fileno()], names[outer.fileno()] = "inner", "outer"
    a, b = pair("n")
    inner.register(a, select.EPOLLIN)
    outer.register(inner.fileno(), select.EPOLLIN)
    print("idle", epev(outer.poll(0)))
    b.send(b"x")
    print("inner ready", epev(outer.poll(0)))
    print("inner itself", epev(inner.poll(0)))
    show("inner.register(outer) makes a loop", lambda: inner.register(outer.fileno(), select.EPOLLIN))
    a.recv(10)
    print("drained", epev(outer.poll(0)))
    for x in (a, b, inner, outer):
        x.close()


def blocked_wakeups():
    section("blocked waits woken by another thread")
    a, b = pair("wake")

    def later(fn):
        t = threading.Timer(0.02, fn)
        t.start()
        return t

    ep = select.epoll()
    ep.register(a, select.EPOLLIN)
    t = later(lambda: b.send(b"1"))
    print("epoll.poll(10)", epev(ep.poll(10)))
    t.join()
    a.recv(10)
    ep.close()

    p = select.poll()
    p.register(a, select.POLLIN)
    t = later(lambda: b.send(b"2"))
    print("poll(10000)", pollev(p.poll(10000)))
    t.join()
    a.recv(10)

    t = later(lambda: b.send(b"3"))
    r, w, x = select.select([a], [], [], 10)
    print("select(10)", [sockname(s) for s in r], w, x)
    t.join()
    a.recv(10)

    sel = selectors.EpollSelector()
    sel.register(a, selectors.EVENT_READ, "wake.0")
    t = later(lambda: b.shutdown(socket.SHUT_WR))
    print("selector.select(10) on peer shutdown", selev(sel.select(10)))
    t.join()
    sel.close()
    a.close()
    b.close()


def poll_and_select():
    section("select.poll")
    a, b = pair("q")
    c, d = pair("r")
    p = select.poll()
    p.register(a, select.POLLIN | select.POLLOUT)
    p.register(b, select.POLLIN)
    p.register(c, select.POLLIN | select.POLLPRI | select.POLLRDHUP)
    print("initial", pollev(p.poll(0)))
    b.send(b"hi")
    print("a readable", pollev(p.poll(0)))
    p.modify(a, select.POLLIN)
    print("a modified to IN", pollev(p.poll(0)))
    d.shutdown(socket.SHUT_WR)
    print("r peer SHUT_WR", pollev(p.poll(0)))
    d.close()
    print("r peer closed", pollev(p.poll(0)))
    e = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    closed_fd = e.fileno()
    e.close()
    names[closed_fd] = "closed"
    p.register(closed_fd, select.POLLIN)
    print("with a closed fd", pollev(p.poll(0)))
    p.unregister(closed_fd)
    show("unregister again", lambda: p.unregister(closed_fd))
    p.unregister(c)
    print("after unregister", pollev(p.poll(0)))
    f = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    names[f.fileno()] = "unconnected"
    p.register(f, select.POLLIN | select.POLLOUT)
    print("unconnected stream socket", pollev(p.poll(0)))
    p.unregister(f)

    section("select.select")
    r, w, x = select.select([a, b, c], [a, b, c], [a, b, c], 0)
    print("r", [sockname(s) for s in r], "w", [sockname(s) for s in w], "x", [sockname(s) for s in x])
    a.recv(10)
    r, w, x = select.select([a, b, c], [], [], 0.02)
    print("after drain r", [sockname(s) for s in r])
    r, w, x = select.select([a, b], [], [], 0.02)
    print("nothing readable", r, w, x)
    r, w, x = select.select([f], [f], [], 0)
    print("unconnected r", [sockname(s) for s in r], "w", [sockname(s) for s in w])
    g = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    closed_fd = g.fileno()
    g.close()
    show("select on a closed fd", lambda: select.select([closed_fd], [], [], 0))
    for s in (a, b, c, f):
        s.close()


def main():
    selector_api()
    echo_server()
    epoll_level()
    epoll_edge()
    epoll_oneshot()
    epoll_hup()
    epoll_round_robin()
    epoll_nested()
    blocked_wakeups()
    poll_and_select()
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
