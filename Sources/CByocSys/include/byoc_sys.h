/// Small system helpers that Swift cannot express safely (fork/exec).
#ifndef BYOC_SYS_H
#define BYOC_SYS_H
#include <sys/types.h>

/// Starts `argv[0]` (searched on PATH) as a child process in its own process group.
///
/// The child gets `envp` as its environment, `stdout_fd`/`stderr_fd` as fd 1 and 2
/// (stdin is /dev/null), and PR_SET_PDEATHSIG(SIGKILL) so it dies with the calling thread's
/// process. `cwd` may be NULL. Returns the pid, or -errno on failure; an exec failure in the
/// child makes it exit with status 127.
pid_t byoc_spawn(const char *const argv[], const char *const envp[], int stdout_fd,
                 int stderr_fd, const char *cwd);

#endif
