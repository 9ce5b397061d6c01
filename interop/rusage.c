/* rusage OUT.json COMMAND [ARG...]: runs COMMAND (stdio inherited), waits for
 * it, writes {"wall_us","user_us","sys_us","maxrss_kib","status"} to OUT.json
 * and exits with COMMAND's exit code (128 + signal if it was killed).
 *
 * What bench-compare.mjs measures a whole client process with: the kernel's
 * own accounting of the child from wait4(2), like /usr/bin/time, but
 *  - CPU time in microseconds (GNU time prints 10 ms steps: useless for a
 *    process that uses 12 ms);
 *  - a small floor under the peak RSS. A child's ru_maxrss starts from the
 *    peak RSS of the memory image it had before exec (the kernel keeps the
 *    larger of the two, fs/exec.c exec_mmap): a child forked by Node.js or
 *    Python reports at least the parent's 40-200 MiB. Forked from this
 *    program, the floor is this program's ~1 MiB (bench-compare.mjs measures
 *    it with /bin/true and prints it).
 * wait4's rusage covers COMMAND and the descendants it waited for (the
 * clients measured start none); the wall time is from just before fork to
 * just after the child is reaped.
 *
 * Built by interop/setup.sh into interop/.bin/rusage (cc -O2). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long us(struct timeval t) { return (long long)t.tv_sec * 1000000 + t.tv_usec; }

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: rusage OUT.json COMMAND [ARG...]\n");
        return 2;
    }
    pid_t parent = getpid();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("rusage: fork");
        return 2;
    }
    if (pid == 0) {
        /* If the harness kills us (timeout), the child goes too. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        execvp(argv[2], argv + 2);
        perror("rusage: exec");
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("rusage: wait4");
            return 2;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long wall = (long long)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror("rusage: open output");
        return 2;
    }
    fprintf(f, "{\"wall_us\":%lld,\"user_us\":%lld,\"sys_us\":%lld,\"maxrss_kib\":%ld,\"status\":%d}\n",
            wall, us(ru.ru_utime), us(ru.ru_stime), ru.ru_maxrss, code);
    if (fclose(f) != 0) {
        perror("rusage: write output");
        return 2;
    }
    return code;
}
