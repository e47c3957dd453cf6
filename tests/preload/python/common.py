# What every preload test script prints with: errno names, poll/epoll bit names, sections, and
# a call's result or its exception. The scripts compare their output natively and under
# ustack-run (../run_compare.sh), so everything printed must be deterministic.
import errno


def ename(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if e.errno is not None else "None"


def section(title):
    print(f"== {title}")


def bits(mask, table):
    """mask as names from table [(name, bit)], with unnamed bits in hex."""
    out = [n for n, b in table if mask & b]
    rest = mask & ~sum(b for _, b in table)
    if rest:
        out.append(hex(rest))
    return "|".join(out) or "0"


def show(label, fn, name_only=()):
    """Prints fn()'s result, or its OSError with the errno name (socket.timeout included), or
    the name of an exception in name_only."""
    try:
        r = fn()
    except OSError as e:
        print(f"{label}: {type(e).__name__} {ename(e)}")
    except name_only as e:
        print(f"{label}: {type(e).__name__}")
    else:
        print(f"{label}: {r!r}")
