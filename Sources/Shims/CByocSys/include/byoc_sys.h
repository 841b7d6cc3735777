/// Small system helpers that Swift cannot express safely (fork/exec).
#ifndef BYOC_SYS_H
#define BYOC_SYS_H
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>

/// epoll event bits (macros/enums Swift does not import reliably).
static inline uint32_t byoc_epollin(void) { return EPOLLIN; }
static inline uint32_t byoc_epollout(void) { return EPOLLOUT; }
static inline uint32_t byoc_epollerr(void) { return EPOLLERR; }
static inline uint32_t byoc_epollhup(void) { return EPOLLHUP; }
static inline uint32_t byoc_epollet(void) { return EPOLLET; }
static inline uint32_t byoc_epollrdhup(void) { return EPOLLRDHUP; }

/// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC (glibc declares it only under _GNU_SOURCE).
int byoc_accept_nonblocking(int listener);

/// Starts `argv[0]` (searched on PATH) as a child process in its own process group.
///
/// The child gets `envp` as its environment, `stdout_fd`/`stderr_fd` as fd 1 and 2
/// (stdin is /dev/null), and PR_SET_PDEATHSIG(SIGKILL) so it dies with the calling thread's
/// process. `cwd` may be NULL. Returns the pid, or -errno on failure; an exec failure in the
/// child makes it exit with status 127.
pid_t byoc_spawn(const char *const argv[], const char *const envp[], int stdout_fd,
                 int stderr_fd, const char *cwd);

#endif
