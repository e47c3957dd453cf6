// The protocol-family registry (net/socket.c: sock_register, net_families): a family added
// from outside src/net/core is reachable through socket() at once, a second registration of a
// family is EEXIST, an unregistered family is EAFNOSUPPORT again, and the operations a family
// leaves out answer what the kernel's sock_no_* answer.
#include <ustack/host.hpp>
#include <ustack/ustack.hpp>

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cerrno>

#include "net/core/sock.hpp"

namespace {

using namespace ustack::net;

// A family with only the mandatory operations.
class NullOps final : public ProtoOps {
 public:
  constexpr NullOps() : ProtoOps(AF_APPLETALK) {}
  int release(Socket* sock) const override {
    if (sock->sk) sock->sk->put();
    sock->sk = nullptr;
    return 0;
  }
};
const NullOps g_null_ops;

int g_created = 0;
int null_create(Net* net, Socket* sock, int protocol, bool /*kern*/) {
  if (protocol != 0) return -EPROTONOSUPPORT;
  sock->ops = &g_null_ops;
  auto* sk = new Sock;
  sock_init_data(sock, sk, net);
  sk->sk_family = AF_APPLETALK;
  ++g_created;
  return 0;
}
const NetProtoFamily g_null_family = {AF_APPLETALK, null_create};

TEST(NetRegistry, AFamilyRegisteredFromOutsideIsUsableAndUnregisterable) {
  ustack::Host* host = ustack::host_create("registry");
  {
    ustack::HostScope scope(host);
    errno = 0;
    EXPECT_EQ(ustack::socket(AF_APPLETALK, SOCK_DGRAM, 0), -1);
    EXPECT_EQ(errno, EAFNOSUPPORT);

    ASSERT_EQ(sock_register(&g_null_family), 0);
    EXPECT_EQ(sock_register(&g_null_family), -EEXIST);
    const int fd = ustack::socket(AF_APPLETALK, SOCK_DGRAM, 0);
    ASSERT_GE(fd, 0) << strerror(errno);
    EXPECT_EQ(g_created, 1);
    errno = 0;
    EXPECT_EQ(ustack::socket(AF_APPLETALK, SOCK_DGRAM, 7), -1);
    EXPECT_EQ(errno, EPROTONOSUPPORT);

    // sock_no_*: every optional operation is EOPNOTSUPP; SOL_SOCKET options still work.
    errno = 0;
    EXPECT_EQ(ustack::listen(fd, 1), -1);
    EXPECT_EQ(errno, EOPNOTSUPP);
    errno = 0;
    EXPECT_EQ(ustack::send(fd, "x", 1, 0), -1);
    EXPECT_EQ(errno, EOPNOTSUPP);
    errno = 0;
    EXPECT_EQ(ustack::shutdown(fd, SHUT_RDWR), -1);
    EXPECT_EQ(errno, EOPNOTSUPP);
    int type = 0;
    socklen_t len = sizeof type;
    EXPECT_EQ(ustack::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &type, &len), 0);
    EXPECT_EQ(type, AF_APPLETALK);
    struct pollfd p = {fd, POLLIN | POLLOUT, 0};
    EXPECT_EQ(ustack::poll(&p, 1, 0), 0) << "a family without ->poll reports nothing";
    EXPECT_EQ(ustack::close(fd), 0);

    sock_unregister(AF_APPLETALK);
    errno = 0;
    EXPECT_EQ(ustack::socket(AF_APPLETALK, SOCK_DGRAM, 0), -1);
    EXPECT_EQ(errno, EAFNOSUPPORT);
    // AF_UNIX registered itself at the first socket call.
    const int u = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(u, 0);
    EXPECT_EQ(ustack::close(u), 0);
  }
  ustack::host_put(host);
}

TEST(NetRegistry, SecondRegistrationOfABuiltInFamilyIsEexist) {
  // Make sure the built-in families are registered (the first socket call does it).
  const int u = ustack::socket(AF_UNIX, SOCK_DGRAM, 0);
  ASSERT_GE(u, 0);
  EXPECT_EQ(ustack::close(u), 0);
  const NetProtoFamily again = {AF_UNIX, null_create};
  EXPECT_EQ(sock_register(&again), -EEXIST);
  const NetProtoFamily out_of_range = {kAfMax, null_create};
  EXPECT_EQ(sock_register(&out_of_range), -ENOBUFS);
}

}  // namespace
