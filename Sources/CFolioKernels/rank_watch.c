// How rank 0 notices that another rank of a model-parallel job is gone. MPI (Open MPI 4 without ULFM) reports no
// error for a dead peer: a collective waits for it forever, and mpirun kills the rest of the job a second later. So
// each worker keeps one TCP connection to rank 0 open for its whole life and never writes to it after the
// handshake; when the worker's process ends for any reason (a crash, SIGKILL, the OOM killer), its kernel closes the
// connection and rank 0's poll() wakes at once. Keepalive probes notice a host that vanished without closing.
#define _GNU_SOURCE
#include "CFolioKernels.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/// Waits up to `ms` for `events` on fd: 1 ready, 0 timed out, -1 error.
static int wait_fd(int fd, short events, int ms) {
    struct pollfd p = {fd, events, 0};
    int r;
    do { r = poll(&p, 1, ms); } while (r < 0 && errno == EINTR);
    return r;
}

/// Reads exactly n bytes within `ms`: 0, or -1.
static int read_all(int fd, void *buf, size_t n, int ms) {
    size_t got = 0;
    const int64_t end = now_ms() + ms;
    while (got < n) {
        const int64_t left = end - now_ms();
        if (left <= 0 || wait_fd(fd, POLLIN, (int)left) <= 0) return -1;
        const ssize_t r = recv(fd, (char *)buf + got, n - got, 0);
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t n) {
    size_t put = 0;
    while (put < n) {
        const ssize_t r = send(fd, (const char *)buf + put, n - put, MSG_NOSIGNAL);
        if (r <= 0) return -1;
        put += (size_t)r;
    }
    return 0;
}

int folio_watch_listen(int *port) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int folio_host_addresses(char *buf, int cap) {
    buf[0] = 0;
    struct ifaddrs *list = NULL;
    if (getifaddrs(&list) == 0) {
        for (struct ifaddrs *i = list; i; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
            char s[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, s, sizeof s);
            if (strncmp(s, "127.", 4) == 0) continue;
            if (strlen(buf) + strlen(s) + 2 >= (size_t)cap) break;
            if (buf[0]) strcat(buf, ",");
            strcat(buf, s);
        }
        freeifaddrs(list);
    }
    // Loopback last: a worker on another host reaching its own 127.0.0.1 meets no listener holding the token.
    if (strlen(buf) + 11 < (size_t)cap) strcat(buf, buf[0] ? ",127.0.0.1" : "127.0.0.1");
    return 0;
}

/// Keepalive: a peer host that is gone without closing is noticed after about 5 + 3 x 2 seconds.
static void keepalive(int fd) {
    int on = 1, idle = 5, intvl = 2, cnt = 3;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

int folio_watch_accept(int lfd, uint64_t token, int size, int timeout_ms, int *fds) {
    for (int r = 0; r < size; r++) fds[r] = -1;
    int joined = 0;
    const int64_t end = now_ms() + timeout_ms;
    while (joined < size - 1) {
        const int64_t left = end - now_ms();
        if (left <= 0 || wait_fd(lfd, POLLIN, (int)left) <= 0) break;
        const int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) continue;
        uint64_t hello[2];  // token, rank
        if (read_all(c, hello, sizeof hello, 2000) != 0 || hello[0] != token || hello[1] < 1 || hello[1] >= (uint64_t)size
            || fds[hello[1]] >= 0) {
            close(c);
            continue;
        }
        const char ack = 1;
        if (write_all(c, &ack, 1) != 0) { close(c); continue; }
        keepalive(c);
        fds[hello[1]] = c;
        joined++;
    }
    close(lfd);
    return joined;
}

int folio_watch_connect(const char *addresses, int port, uint64_t token, int rank, int timeout_ms) {
    char list[1024];
    snprintf(list, sizeof list, "%s", addresses);
    char *save = NULL;
    for (char *s = strtok_r(list, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, s, &a.sin_addr) != 1) continue;
        const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) return -1;
        int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        if (!ok && errno == EINPROGRESS && wait_fd(fd, POLLOUT, timeout_ms) == 1) {
            int err = 0;
            socklen_t len = sizeof err;
            ok = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
        }
        if (ok) {
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
            const uint64_t hello[2] = {token, (uint64_t)rank};
            char ack = 0;
            if (write_all(fd, hello, sizeof hello) == 0 && read_all(fd, &ack, 1, timeout_ms) == 0 && ack == 1) {
                keepalive(fd);
                return fd;
            }
        }
        close(fd);
    }
    return -1;
}

int folio_watch_wait(const int *fds, int n) {
    struct pollfd p[256];
    int idx[256], m = 0;
    for (int i = 0; i < n && m < 256; i++) {
        if (fds[i] < 0) continue;
        p[m] = (struct pollfd){fds[i], POLLIN, 0};
        idx[m++] = i;
    }
    if (m == 0) return -1;
    for (;;) {
        const int r = poll(p, (nfds_t)m, -1);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        // A worker writes nothing after the handshake: anything readable is its end (EOF, or a reset).
        for (int j = 0; j < m; j++) if (p[j].revents) return idx[j];
    }
}
