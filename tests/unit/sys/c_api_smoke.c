/* The C ABI compiled as C: include/ustack/ustack.h must be a valid C header, and the calls must
 * reach ustack with Linux's return values and errno. Called from c_api_test.cc. */
#include <ustack/ustack.h>

#include <errno.h>
#include <fcntl.h>

int ustack_c_api_smoke(void) {
  int efd = ustack_eventfd(3, EFD_NONBLOCK);
  if (efd < 0) return 1;
  struct pollfd p = {efd, POLLIN, 0};
  if (ustack_poll(&p, 1, 0) != 1 || p.revents != POLLIN) return 2;
  eventfd_t v = 0;
  if (ustack_eventfd_read(efd, &v) != 0 || v != 3) return 3;
  errno = 0;
  if (ustack_eventfd_read(efd, &v) != -1 || errno != EAGAIN) return 4;
  if (ustack_fcntl(efd, F_GETFL) != (O_RDWR | O_NONBLOCK)) return 5;
  if (ustack_close(efd) != 0) return 6;
  errno = 0;
  if (ustack_close(efd) != -1 || errno != EBADF) return 7;
  return 0;
}
