// ustack-run: runs a program with libustack-preload.so preloaded (docs/preload.md).
//
//   ustack-run [options] -- program [args...]
//
// The options set the policy variables the library reads; ustack-run then execs the program in
// its own process (so the program's pid is ustack-run's, which --trace uses to name its file).
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr const char* kLibName = "libustack-preload.so";

void usage(FILE* out) {
  std::fprintf(out,
               "usage: ustack-run [options] -- program [args...]\n"
               "Runs program with %s preloaded: its sockets, pipes, eventfds and epolls are\n"
               "ustack's, and every other fd is the kernel's, in one fd number space.\n"
               "\n"
               "options (each sets the environment variable in brackets):\n"
               "  --trace FILE        write the wake-up trace to FILE at exit [USTACK_TRACE];\n"
               "                      child processes write FILE.<pid>\n"
               "  --stats             print the objects ustack made, at exit, on stderr "
               "[USTACK_STATS=1]\n"
               "  --families LIST     socket families ustack takes: all (default), none, unix\n"
               "                      [USTACK_FAMILIES]\n"
               "  --pipe ustack|kernel     who makes pipes (default ustack) [USTACK_PIPE]\n"
               "  --eventfd ustack|kernel  who makes eventfds (default ustack) [USTACK_EVENTFD]\n"
               "  --no-unix-fallback  a ustack AF_UNIX socket refused by a path only the kernel\n"
               "                      knows stays refused [USTACK_UNIX_FALLBACK=0]\n"
               "  --off               preload the library but leave everything to the kernel "
               "[USTACK=off]\n"
               "  --lib PATH          the library to preload (default: beside ustack-run)\n"
               "  -h, --help          this text\n",
               kLibName);
}

// The directory of this executable, with a trailing slash.
std::string self_dir() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "./";
  std::string s(buf, size_t(n));
  return s.substr(0, s.rfind('/') + 1);
}

bool one_of(const char* v, const char* a, const char* b) {
  return std::strcmp(v, a) == 0 || std::strcmp(v, b) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string lib = self_dir() + kLibName;
  if (const char* env = std::getenv("USTACK_PRELOAD_LIB")) lib = env;
  int i = 1;
  for (; i < argc; ++i) {
    const char* a = argv[i];
    auto value = [&](const char* opt) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ustack-run: %s needs a value\n", opt);
        std::exit(2);
      }
      return argv[++i];
    };
    if (std::strcmp(a, "--") == 0) {
      ++i;
      break;
    } else if (std::strcmp(a, "-h") == 0 || std::strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (std::strcmp(a, "--trace") == 0) {
      setenv("USTACK_TRACE", value(a), 1);
    } else if (std::strcmp(a, "--stats") == 0) {
      setenv("USTACK_STATS", "1", 1);
    } else if (std::strcmp(a, "--families") == 0) {
      setenv("USTACK_FAMILIES", value(a), 1);
    } else if (std::strcmp(a, "--pipe") == 0 || std::strcmp(a, "--eventfd") == 0) {
      const char* v = value(a);
      if (!one_of(v, "ustack", "kernel")) {
        std::fprintf(stderr, "ustack-run: %s takes ustack or kernel, not '%s'\n", a, v);
        return 2;
      }
      setenv(a[2] == 'p' ? "USTACK_PIPE" : "USTACK_EVENTFD", v, 1);
    } else if (std::strcmp(a, "--no-unix-fallback") == 0) {
      setenv("USTACK_UNIX_FALLBACK", "0", 1);
    } else if (std::strcmp(a, "--off") == 0) {
      setenv("USTACK", "off", 1);
    } else if (std::strcmp(a, "--lib") == 0) {
      lib = value(a);
    } else if (a[0] == '-') {
      std::fprintf(stderr, "ustack-run: unknown option %s\n", a);
      usage(stderr);
      return 2;
    } else {
      break;  // the program, without "--"
    }
  }
  if (i >= argc) {
    usage(stderr);
    return 2;
  }
  if (access(lib.c_str(), R_OK) != 0) {
    std::fprintf(stderr, "ustack-run: cannot read %s\n", lib.c_str());
    return 127;
  }
  std::string preload = lib;
  if (const char* old = std::getenv("LD_PRELOAD"); old != nullptr && *old) {
    preload += ":";
    preload += old;
  }
  setenv("LD_PRELOAD", preload.c_str(), 1);
  setenv("USTACK_TRACE_PID", std::to_string(getpid()).c_str(), 1);
  execvp(argv[i], argv + i);
  std::fprintf(stderr, "ustack-run: %s: %s\n", argv[i], std::strerror(errno));
  return 127;
}
