/*
 * The floor for discovery: the same syscalls per inherited fd that listeners() makes,
 * with nothing around them. bench/discovery.mjs compiles this with `cc -O2` into a temp
 * dir and runs it activated, like the Node child, over the same fds. It links
 * native/glibc-compat.c, as the addon does, so that fstat is the same system call (glibc 2.33
 * and later would otherwise make it newfstatat(fd, "", AT_EMPTY_PATH)).
 *
 * Per fd, in the order of native/facts.cc (ReadFacts) and native/inspect.cc (InspectRange):
 *   fstat; fcntl F_GETFD; fcntl F_GETFL;
 *   sockets: getsockopt SO_TYPE, SO_ACCEPTCONN, SO_DOMAIN, SO_PROTOCOL; getsockname;
 *            getpeername; IPV6_V6ONLY if AF_INET6; TCP_INFO if a TCP listener;
 *   regular files / anon inodes: fstatfs (none in this benchmark);
 *   then F_SETFD if the F_GETFD above found FD_CLOEXEC clear.
 * (The addon reads /proc/self/fd links only for anon inodes, registry.ts only for anon
 * inodes and pipes: never for sockets.)
 *
 * Node's start-up (libuv's uv_disable_stdio_inheritance) sets FD_CLOEXEC on every inherited
 * fd before any JS runs, so in the Node child no F_SETFD is left to make. To make exactly
 * the same syscalls over fds in the same state, this program does that start-up step too,
 * before the clock starts.
 *
 * Prints one line: `floor <n> <nanoseconds> <syscalls>`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

static volatile double sink; /* keeps results alive, as the addon stores them */

static int get_int(int fd, int level, int name, long *calls) {
  int value = 0;
  socklen_t len = sizeof(value);
  ++*calls;
  if (getsockopt(fd, level, name, &value, &len) != 0 || len != sizeof(value)) return -1;
  return value;
}

static void inspect(int fd, long *calls) {
  struct stat st;
  ++*calls;
  if (fstat(fd, &st) != 0) {
    fprintf(stderr, "floor: fstat(%d): %s\n", fd, strerror(errno));
    exit(1);
  }
  double acc = (double)st.st_ino;
  int fd_flags = fcntl(fd, F_GETFD);
  acc += fd_flags;
  acc += fcntl(fd, F_GETFL);
  *calls += 2;
  if (S_ISSOCK(st.st_mode)) {
    int type = get_int(fd, SOL_SOCKET, SO_TYPE, calls);
    int accept = get_int(fd, SOL_SOCKET, SO_ACCEPTCONN, calls);
    int domain = get_int(fd, SOL_SOCKET, SO_DOMAIN, calls);
    int protocol = get_int(fd, SOL_SOCKET, SO_PROTOCOL, calls);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    ++*calls;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && domain < 0) domain = ss.ss_family;
    len = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    ++*calls;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) acc += ss.ss_family;
    if (domain == AF_INET6) acc += get_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, calls);
    int tcp = protocol == IPPROTO_TCP || (protocol < 0 && type == SOCK_STREAM && (domain == AF_INET || domain == AF_INET6));
    if (tcp && accept == 1) {
      struct tcp_info ti;
      socklen_t tlen = sizeof(ti);
      memset(&ti, 0, sizeof(ti));
      ++*calls;
      if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tlen) == 0) acc += ti.tcpi_sacked;
    }
    acc += type + accept + protocol;
  }
  if (S_ISREG(st.st_mode) || (st.st_mode & S_IFMT) == 0) {
    struct statfs sfs;
    ++*calls;
    if (fstatfs(fd, &sfs) == 0) acc += (double)sfs.f_type;
  }
  if (!(fd_flags & FD_CLOEXEC)) {
    ++*calls;
    if (fcntl(fd, F_SETFD, fd_flags | FD_CLOEXEC) != 0) {
      fprintf(stderr, "floor: FD_CLOEXEC on %d: %s\n", fd, strerror(errno));
      exit(1);
    }
  }
  sink += acc;
}

int main(void) {
  const char *pid = getenv("LISTEN_PID");
  const char *fds = getenv("LISTEN_FDS");
  if (!pid || !fds || atol(pid) != (long)getpid()) {
    fprintf(stderr, "floor: not activated (LISTEN_PID=%s, pid %ld)\n", pid ? pid : "-", (long)getpid());
    return 1;
  }
  int n = atoi(fds);
  long calls = 0;
  /* Untimed: what Node's start-up does to inherited fds (see above). */
  for (int fd = 3; fd < 3 + n; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int fd = 3; fd < 3 + n; fd++) inspect(fd, &calls);
  clock_gettime(CLOCK_MONOTONIC, &b);
  long long ns = (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
  printf("floor %d %lld %ld\n", n, ns, calls);
  return 0;
}
