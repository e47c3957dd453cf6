// epoll (fs/eventpoll.c). Work in progress: the calls exist and return ENOSYS.
#include <cerrno>

#include "vfs/vfs.hpp"

namespace ustack::vfs {

long do_epoll_create(int) { return -ENOSYS; }
long do_epoll_ctl(int, int, int, struct epoll_event*) { return -ENOSYS; }
long do_epoll_wait(int, struct epoll_event*, int, int64_t) { return -ENOSYS; }

}  // namespace ustack::vfs
