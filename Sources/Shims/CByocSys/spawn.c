#define _GNU_SOURCE
#include "byoc_sys.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

pid_t byoc_spawn(const char *const argv[], const char *const envp[], int stdout_fd,
                 int stderr_fd, const char *cwd) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -errno;
    if (pid == 0) {
        /* Child: only async-signal-safe calls from here on. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(126);
        setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) { dup2(devnull, 0); if (devnull > 2) close(devnull); }
        if (stdout_fd >= 0) dup2(stdout_fd, 1);
        if (stderr_fd >= 0) dup2(stderr_fd, 2);
        if (cwd && chdir(cwd) != 0) _exit(127);
        execvpe(argv[0], (char *const *)argv, (char *const *)envp);
        _exit(127);
    }
    return pid;
}

int byoc_accept_nonblocking(int listener) {
    return accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
