// The README's example: one thread sleeps in poll on an eventfd, another writes to it.
#include <ustack/ustack.hpp>

#include <cstdio>
#include <thread>

int main() {
  int efd = ustack::eventfd(0, EFD_NONBLOCK);
  std::thread writer([efd] { ustack::eventfd_write(efd, 42); });
  struct pollfd p = {efd, POLLIN, 0};
  int n = ustack::poll(&p, 1, 1000);  // sleeps until the writer's wake-up
  eventfd_t v = 0;
  ustack::eventfd_read(efd, &v);
  writer.join();
  std::printf("poll returned %d, revents %#x, read %llu\n", n, p.revents, (unsigned long long)v);
  ustack::close(efd);
  return n == 1 && v == 42 ? 0 : 1;
}
