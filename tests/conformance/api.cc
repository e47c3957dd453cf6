// The two call tables: glibc on the host kernel, and ustack. Built with CONFORMANCE_LIBC_ONLY,
// only glibc's, named at startup after whoever answers it (see libc_api() in api.hpp).
#include "api.hpp"

#ifdef CONFORMANCE_LIBC_ONLY
#include <dlfcn.h>
#else
#include <ustack/ustack.hpp>
#endif

namespace conformance {

// glibc's own entry points; the casts only drop the noexcept/attribute differences.
const Api kLinuxApi = {
    "linux",     true,
    ::close,     ::dup,        ::dup2,         ::dup3,     ::fcntl,     ::ioctl,
    ::read,      ::write,      ::readv,        ::writev,   ::poll,      ::ppoll,
    ::select,    ::pselect,
    ::epoll_create, ::epoll_create1, ::epoll_ctl, ::epoll_wait, ::epoll_pwait, ::epoll_pwait2,
    ::eventfd,      ::eventfd_read,          ::eventfd_write,
    ::pipe,      ::pipe2,
    [](int r, struct rlimit* l) { return ::getrlimit(static_cast<__rlimit_resource>(r), l); },
    [](int r, const struct rlimit* l) {
      return ::setrlimit(static_cast<__rlimit_resource>(r), l);
    },
    ::sigaction,
    ::socket,    ::socketpair, ::bind,     ::listen,   ::accept,   ::accept4,  ::connect,
    ::send,      ::sendto,     ::sendmsg,  ::sendmmsg, ::recv,     ::recvfrom, ::recvmsg,
    [](int fd, struct mmsghdr* v, unsigned n, int f, struct timespec* t) {
      return ::recvmmsg(fd, v, n, f, t);
    },
    ::shutdown,  ::getsockname, ::getpeername, ::getsockopt, ::setsockopt,
};

#ifdef CONFORMANCE_LIBC_ONLY

const Api* libc_api() {
  // The preload exports this symbol (ustack-run's libustack-preload.so); looking it up is how
  // the program can tell, as it has no other tie to ustack. Under the preload, libc's calls on
  // ustack's fds are ustack's, so the table must take the ustack instance's is_linux branches.
  static const Api api = [] {
    Api a = kLinuxApi;
    if (dlsym(RTLD_DEFAULT, "ustack_preload_fd_kind") != nullptr) {
      a.name = "ustack_preload";
      a.is_linux = false;
    }
    return a;
  }();
  return &api;
}

#else

const Api kUstackApi = {
    "ustack",        false,
    ustack::close,   ustack::dup,        ustack::dup2,     ustack::dup3,   ustack::fcntl,
    ustack::ioctl,   ustack::read,       ustack::write,    ustack::readv,  ustack::writev,
    ustack::poll,    ustack::ppoll,      ustack::select,   ustack::pselect,
    ustack::epoll_create, ustack::epoll_create1, ustack::epoll_ctl, ustack::epoll_wait,
    ustack::epoll_pwait, ustack::epoll_pwait2,
    ustack::eventfd, ustack::eventfd_read, ustack::eventfd_write, ustack::pipe, ustack::pipe2,
    ustack::getrlimit, ustack::setrlimit, ustack::sigaction,
    ustack::socket,  ustack::socketpair, ustack::bind, ustack::listen, ustack::accept,
    ustack::accept4, ustack::connect,    ustack::send, ustack::sendto, ustack::sendmsg,
    ustack::sendmmsg, ustack::recv,      ustack::recvfrom, ustack::recvmsg, ustack::recvmmsg,
    ustack::shutdown, ustack::getsockname, ustack::getpeername, ustack::getsockopt,
    ustack::setsockopt,
};

#endif  // CONFORMANCE_LIBC_ONLY

std::string api_name(const ::testing::TestParamInfo<const Api*>& info) {
  return info.param->name;
}

}  // namespace conformance
