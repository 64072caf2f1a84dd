// CPU affinity and parent-death for the data-parallel replicas of `folio serve --data-parallel-size N`: each replica
// process pins itself to its share of the cores before its compute threads start, and exits with the process that
// started it. Linux only; elsewhere these report "not supported" and change nothing.
#define _GNU_SOURCE
#include "CFolioKernels.h"
#include <unistd.h>
#if defined(__linux__)
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

int folio_allowed_cpus(int *cpus, int capacity) {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -errno;
    int n = 0;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &set)) continue;
        if (cpus && n < capacity) cpus[n] = c;
        n++;
    }
    return n;
#else
    (void)cpus; (void)capacity;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
#endif
}

int folio_bind_cpus(const int *cpus, int n) {
#if defined(__linux__)
    if (n < 1) return -EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < n; i++) {
        if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE) return -EINVAL;
        CPU_SET(cpus[i], &set);
    }
    // sched_setaffinity binds one thread; bind every thread that exists now (threads created later inherit the
    // mask of the thread that creates them, and that is one of these).
    if (sched_setaffinity(0, sizeof set, &set) != 0) return -errno;
    DIR *d = opendir("/proc/self/task");
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid > 0 && sched_setaffinity(tid, sizeof set, &set) != 0 && errno != ESRCH) {
            int err = errno;
            closedir(d);
            return -err;
        }
    }
    closedir(d);
    return 0;
#else
    (void)cpus; (void)n;
    return -1;
#endif
}

int folio_exit_with_parent(int parent) {
#if defined(__linux__)
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) return -errno;
    // The parent may have died before the call: then we were reparented already and no signal will come.
    if (getppid() != (pid_t)parent) raise(SIGTERM);
    return 0;
#else
    (void)parent;
    return -1;
#endif
}
