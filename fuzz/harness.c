// Test-only reference harness: runs the real libsystemd (Debian's libsystemd-dev, never a
// dependency of the package) on the same environments and fds the package is fuzzed with, so
// test/fuzz-*.test.ts can compare both answers case by case.
//
//   harness listen          per case: fork, place fds at 3.., set the environment, call
//                           sd_listen_fds_with_names(), report its answer and which fds changed
//   harness exec CMD ARG…   per case: the same set-up and libsystemd's answer, then (FD_CLOEXEC
//                           and the environment restored) exec CMD ARG… ID KINDS UNSET in the
//                           same process: the package's answer is CMD's stdout line
//   harness watchdog        per case: sd_watchdog_enabled() (in this process)
//   harness notify          per case: sd_notify(0, "READY=1") with sendmsg() intercepted, so the
//                           answer is the address libsystemd would send to, without sending
//   harness receive ADDRESS a notify socket at ADDRESS (/path or @abstract) printing every
//                           datagram's bytes and fd count, until stdin closes
//
// Cases come on stdin, one per line: `ID KINDS UNSET NAME=HEX…` (KINDS `-` for none; values
// hex-encoded because they may hold any byte but NUL). In values, byte 1 stands for the pid of
// the process that reads them in decimal, 2 in hex, 3 in octal, 4 for its pidfd inode number,
// so a case can say "this process" in every spelling. One JSON line per case comes back.
//
// Fd kinds: t TCP listener, u UDP, s unix stream listener, d unix datagram, c connected unix
// stream, p pipe read end (writer closed), r/w the two ends of one pipe, n /dev/null,
// f regular file, e eventfd, E epoll, h a hole (that number is not open).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#define MAX_VARS 16
#define MAX_KINDS 64
#define HIGH_FD 700
#define SNAPSHOT_FDS 96

struct test_case {
  long id;
  char kinds[MAX_KINDS + 1];
  int unset;
  int n_vars;
  char *names[MAX_VARS];
  unsigned char *values[MAX_VARS];
  size_t lengths[MAX_VARS];
};

static const char *listen_variables[] = {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PIDFDID"};

// ---- output: one JSON line, built in a buffer and written with one write() ----

struct out {
  char *data;
  size_t len, cap;
};

static void put(struct out *o, const char *text, size_t n) {
  if (o->len + n + 1 > o->cap) {
    o->cap = (o->len + n + 1) * 2;
    o->data = realloc(o->data, o->cap);
    if (!o->data) abort();
  }
  memcpy(o->data + o->len, text, n);
  o->len += n;
  o->data[o->len] = 0;
}

static void puts_(struct out *o, const char *text) { put(o, text, strlen(text)); }

static void putf(struct out *o, const char *format, ...) {
  char buffer[256];
  va_list ap;
  va_start(ap, format);
  int n = vsnprintf(buffer, sizeof buffer, format, ap);
  va_end(ap);
  put(o, buffer, (size_t)n);
}

static void put_hex(struct out *o, const unsigned char *bytes, size_t n) {
  static const char digits[] = "0123456789abcdef";
  put(o, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    char pair[2] = {digits[bytes[i] >> 4], digits[bytes[i] & 15]};
    put(o, pair, 2);
  }
  put(o, "\"", 1);
}

static void put_env(struct out *o, const char *name) {
  const char *v = getenv(name);
  putf(o, "\"%s\":", name);
  if (v)
    put_hex(o, (const unsigned char *)v, strlen(v));
  else
    puts_(o, "null");
}

static void emit(struct out *o) {
  puts_(o, "}\n");
  size_t done = 0;
  while (done < o->len) {
    ssize_t w = write(1, o->data + done, o->len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(70);
    done += (size_t)w;
  }
  o->len = 0;
}

// ---- input ----

static int hex_value(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void fail_input(const char *why, const char *line) {
  fprintf(stderr, "harness: bad case line (%s): %.200s\n", why, line);
  exit(2);
}

static void parse_case(char *line, struct test_case *c) {
  memset(c, 0, sizeof *c);
  char *save = NULL;
  char *id = strtok_r(line, " \n", &save);
  char *kinds = strtok_r(NULL, " \n", &save);
  char *unset = strtok_r(NULL, " \n", &save);
  if (!id || !kinds || !unset) fail_input("expected ID KINDS UNSET", line);
  c->id = strtol(id, NULL, 10);
  if (strcmp(kinds, "-") != 0) {
    if (strlen(kinds) > MAX_KINDS) fail_input("too many kinds", kinds);
    strcpy(c->kinds, kinds);
  }
  c->unset = strcmp(unset, "1") == 0;
  for (char *token; (token = strtok_r(NULL, " \n", &save));) {
    char *eq = strchr(token, '=');
    if (!eq || c->n_vars == MAX_VARS) fail_input("expected NAME=HEX", token);
    *eq = 0;
    size_t hex_len = strlen(eq + 1);
    if (hex_len % 2) fail_input("odd hex length", token);
    unsigned char *value = malloc(hex_len / 2 + 1);
    for (size_t i = 0; i < hex_len / 2; i++) {
      int hi = hex_value(eq[1 + 2 * i]), lo = hex_value(eq[2 + 2 * i]);
      if (hi < 0 || lo < 0) fail_input("not hex", token);
      value[i] = (unsigned char)(hi * 16 + lo);
    }
    value[hex_len / 2] = 0;
    c->names[c->n_vars] = token;
    c->values[c->n_vars] = value;
    c->lengths[c->n_vars] = hex_len / 2;
    c->n_vars++;
  }
}

static void free_case(struct test_case *c) {
  for (int i = 0; i < c->n_vars; i++) free(c->values[i]);
}

// ---- this process, in every spelling a case may ask for ----

static unsigned long long own_pidfd_id(void) {
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
  int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
  if (fd < 0) return 0;
  struct stat st;
  unsigned long long id = fstat(fd, &st) == 0 ? (unsigned long long)st.st_ino : 0;
  close(fd);
  return id;
}

// Replaces the placeholder bytes 1..4 with this process's pid (decimal, hex, octal) or pidfd id.
static char *instantiate(const unsigned char *value, size_t length, unsigned long long pidfd_id) {
  struct out o = {0};
  put(&o, "", 0);
  for (size_t i = 0; i < length; i++) {
    switch (value[i]) {
      case 1: putf(&o, "%d", (int)getpid()); break;
      case 2: putf(&o, "%x", (unsigned)getpid()); break;
      case 3: putf(&o, "%o", (unsigned)getpid()); break;
      case 4: putf(&o, "%llu", pidfd_id); break;
      default: put(&o, (const char *)&value[i], 1);
    }
  }
  return o.data;
}

static void apply_environment(const struct test_case *c, unsigned long long pidfd_id) {
  for (int i = 0; i < c->n_vars; i++) {
    char *v = instantiate(c->values[i], c->lengths[i], pidfd_id);
    if (setenv(c->names[i], v, 1) != 0) _exit(71);
    free(v);
  }
}

// ---- fds at 3.. ----

static int must(int r, const char *what) {
  if (r < 0) {
    fprintf(stderr, "harness: %s: %s\n", what, strerror(errno));
    _exit(72);
  }
  return r;
}

static int make_kind(char kind, int *pipe_ends) {
  int fd = -1;
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct sockaddr_un autobind = {.sun_family = AF_UNIX};
  switch (kind) {
    case 't':
      fd = must(socket(AF_INET, SOCK_STREAM, 0), "socket");
      must(bind(fd, (struct sockaddr *)&sin, sizeof sin), "bind");
      must(listen(fd, 16), "listen");
      break;
    case 'u':
      fd = must(socket(AF_INET, SOCK_DGRAM, 0), "socket");
      must(bind(fd, (struct sockaddr *)&sin, sizeof sin), "bind");
      break;
    case 's':
    case 'd':
      fd = must(socket(AF_UNIX, kind == 's' ? SOCK_STREAM : SOCK_DGRAM, 0), "socket");
      must(bind(fd, (struct sockaddr *)&autobind, sizeof(sa_family_t)), "bind");
      if (kind == 's') must(listen(fd, 16), "listen");
      break;
    case 'c': {
      int pair[2];
      must(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), "socketpair");
      close(pair[1]);
      fd = pair[0];
      break;
    }
    case 'p': {
      int ends[2];
      must(pipe(ends), "pipe");
      close(ends[1]);
      fd = ends[0];
      break;
    }
    case 'r':
    case 'w':
      if (pipe_ends[0] < 0) must(pipe(pipe_ends), "pipe");
      fd = must(dup(pipe_ends[kind == 'w']), "dup");
      break;
    case 'n': fd = must(open("/dev/null", O_RDWR), "open /dev/null"); break;
    case 'f': fd = must(open("/tmp", O_TMPFILE | O_RDWR, 0600), "open O_TMPFILE"); break;
    case 'e': fd = must(eventfd(0, 0), "eventfd"); break;
    case 'E': fd = must(epoll_create1(0), "epoll_create1"); break;
    case 'h': return -1;
    default: fprintf(stderr, "harness: unknown fd kind %c\n", kind); _exit(73);
  }
  return fd;
}

// Leaves exactly 0, 1, 2 and the case's fds at 3.. open, none of them close-on-exec (as a
// service manager passes them), holes closed.
static void place_fds(const char *kinds) {
  size_t k = strlen(kinds);
  int high[MAX_KINDS];
  int pipe_ends[2] = {-1, -1};
  close_range(3, ~0U, 0);
  for (size_t i = 0; i < k; i++) {
    int fd = make_kind(kinds[i], pipe_ends);
    high[i] = -1;
    if (fd < 0) continue;
    high[i] = must(fcntl(fd, F_DUPFD_CLOEXEC, HIGH_FD), "F_DUPFD");
    close(fd);
  }
  // Nothing made on the way (pipe ends, duplicates) may stay behind in a hole.
  close_range(3, HIGH_FD - 1, 0);
  for (size_t i = 0; i < k; i++) {
    if (high[i] >= 0) must(dup2(high[i], 3 + (int)i), "dup2");
  }
  close_range(3 + (unsigned)k, ~0U, 0);
}

static void fd_flags(int *flags) {
  for (int fd = 0; fd < SNAPSHOT_FDS; fd++) flags[fd] = fcntl(fd, F_GETFD);
}

// ---- modes ----

// Calls sd_listen_fds_with_names() on the case as set up, and reports its answer.
static void libsystemd_listen(const struct test_case *c, unsigned long long pidfd_id) {
  int before[SNAPSHOT_FDS], after[SNAPSHOT_FDS];
  fd_flags(before);
  char **names = NULL;
  int r = sd_listen_fds_with_names(c->unset, &names);
  fd_flags(after);

  struct out o = {0};
  putf(&o, "{\"id\":%ld,\"side\":\"libsystemd\",\"r\":%d,\"pid\":%d,\"pidfdId\":\"%llu\",\"names\":", c->id, r, (int)getpid(), pidfd_id);
  if (r > 0 && names) {
    puts_(&o, "[");
    for (int i = 0; names[i]; i++) {
      if (i) puts_(&o, ",");
      put_hex(&o, (const unsigned char *)names[i], strlen(names[i]));
    }
    puts_(&o, "]");
  } else {
    puts_(&o, "null");
  }
  puts_(&o, ",\"changed\":[");
  int first = 1;
  for (int fd = 0; fd < SNAPSHOT_FDS; fd++) {
    if (before[fd] == after[fd]) continue;
    putf(&o, "%s{\"fd\":%d,\"before\":%d,\"after\":%d}", first ? "" : ",", fd, before[fd], after[fd]);
    first = 0;
  }
  puts_(&o, "],\"env\":{");
  for (size_t i = 0; i < sizeof listen_variables / sizeof *listen_variables; i++) {
    if (i) puts_(&o, ",");
    put_env(&o, listen_variables[i]);
  }
  puts_(&o, "}");
  emit(&o);
  free(o.data);
  if (names) {
    for (int i = 0; names[i]; i++) free(names[i]);
    free(names);
  }
}

static void listen_case(const struct test_case *c) {
  place_fds(c->kinds);
  unsigned long long pidfd_id = own_pidfd_id();
  clearenv();
  apply_environment(c, pidfd_id);
  libsystemd_listen(c, pidfd_id);
  _exit(0);
}

static char **exec_argv;
static int exec_argc;

static void exec_case(const struct test_case *c) {
  place_fds(c->kinds);
  unsigned long long pidfd_id = own_pidfd_id();
  // The package's process gets PATH, and the sanitizer runtime settings when the sanitizer run
  // (scripts/sanitize.sh) set them: its addon cannot load without them.
  static const char *kept[] = {"PATH", "LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
  char *saved[sizeof kept / sizeof *kept];
  for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) saved[i] = getenv(kept[i]) ? strdup(getenv(kept[i])) : NULL;
  // libsystemd first, in this very process (same pid, pidfd, fds and environment); then undo
  // what it changed (FD_CLOEXEC, the unset variables), so the package starts from the same state.
  clearenv();
  apply_environment(c, pidfd_id);
  libsystemd_listen(c, pidfd_id);
  for (size_t i = 0; i < strlen(c->kinds); i++) fcntl(3 + (int)i, F_SETFD, 0);
  clearenv();
  for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
    if (saved[i]) setenv(kept[i], saved[i], 1);
  }
  apply_environment(c, pidfd_id);
  char id[32], unset[2] = {c->unset ? '1' : '0', 0};
  snprintf(id, sizeof id, "%ld", c->id);
  char **argv = calloc((size_t)exec_argc + 4, sizeof *argv);
  for (int i = 0; i < exec_argc; i++) argv[i] = exec_argv[i];
  argv[exec_argc] = id;
  argv[exec_argc + 1] = c->kinds[0] ? (char *)c->kinds : "-";
  argv[exec_argc + 2] = unset;
  execvp(argv[0], argv);
  fprintf(stderr, "harness: exec %s: %s\n", argv[0], strerror(errno));
  _exit(74);
}

// Runs one case in a child; reports a crash, a timeout or a failed exit as its line.
static void run_forked(const struct test_case *c, void (*body)(const struct test_case *), int timeout_ms) {
  fflush(stdout);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  pid_t pid = fork();
  if (pid < 0) {
    perror("harness: fork");
    exit(3);
  }
  if (pid == 0) {
    sigprocmask(SIG_UNBLOCK, &chld, NULL);
    body(c);
    _exit(75);
  }
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  int status = 0;
  int timed_out = 0;
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    struct timespec now, left;
    clock_gettime(CLOCK_MONOTONIC, &now);
    left.tv_sec = deadline.tv_sec - now.tv_sec;
    left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
    if (left.tv_nsec < 0) {
      left.tv_sec--;
      left.tv_nsec += 1000000000L;
    }
    if (left.tv_sec < 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      timed_out = 1;
      break;
    }
    sigtimedwait(&chld, NULL, &left);
  }
  struct out o = {0};
  if (timed_out) {
    putf(&o, "{\"id\":%ld,\"timeout\":%d", c->id, timeout_ms);
    emit(&o);
  } else if (WIFSIGNALED(status)) {
    putf(&o, "{\"id\":%ld,\"signal\":%d", c->id, WTERMSIG(status));
    emit(&o);
  } else if (WEXITSTATUS(status) != 0) {
    putf(&o, "{\"id\":%ld,\"exit\":%d", c->id, WEXITSTATUS(status));
    emit(&o);
  }
  free(o.data);
}

static void watchdog_case(const struct test_case *c) {
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  apply_environment(c, own_pidfd_id());
  uint64_t usec = 0;
  int r = sd_watchdog_enabled(0, &usec);
  struct out o = {0};
  putf(&o, "{\"id\":%ld,\"r\":%d,\"pid\":%d,\"usec\":\"%llu\"", c->id, r, (int)getpid(), (unsigned long long)usec);
  emit(&o);
  free(o.data);
}

// What sd_notify() handed to the kernel, captured instead of sent. libsystemd calls sendmsg()
// through the dynamic linker, so this definition in the executable takes its place.
static struct {
  int calls;
  unsigned char name[sizeof(struct sockaddr_un) + 8];
  socklen_t name_length;
  unsigned char payload[8192];
  size_t payload_length;
} sent;

ssize_t sendmsg(int fd, const struct msghdr *message, int flags) {
  (void)fd;
  (void)flags;
  sent.calls++;
  sent.name_length = message->msg_namelen;
  memcpy(sent.name, message->msg_name, message->msg_namelen < sizeof sent.name ? message->msg_namelen : sizeof sent.name);
  size_t total = 0;
  for (size_t i = 0; i < message->msg_iovlen; i++) {
    size_t n = message->msg_iov[i].iov_len;
    if (total + n <= sizeof sent.payload) memcpy(sent.payload + total, message->msg_iov[i].iov_base, n);
    total += n;
  }
  sent.payload_length = total;
  return (ssize_t)total;
}

static void notify_case(const struct test_case *c) {
  unsetenv("NOTIFY_SOCKET");
  apply_environment(c, own_pidfd_id());
  memset(&sent, 0, sizeof sent);
  int r = sd_notify(0, "READY=1");
  struct out o = {0};
  putf(&o, "{\"id\":%ld,\"r\":%d,\"calls\":%d", c->id, r, sent.calls);
  if (sent.calls) {
    const struct sockaddr *sa = (const struct sockaddr *)sent.name;
    size_t offset = offsetof(struct sockaddr_un, sun_path);
    putf(&o, ",\"family\":%d,\"path\":", sa->sa_family);
    put_hex(&o, sent.name + offset, sent.name_length > offset ? sent.name_length - offset : 0);
  }
  emit(&o);
  free(o.data);
}

// A stand-in notify socket: every datagram it receives, byte for byte, with the number of fds
// that came with it (closed at once). Runs until stdin closes.
static int receive(const char *address) {
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  size_t n = strlen(address);
  if (n == 0 || n >= sizeof sun.sun_path) return 2;
  memcpy(sun.sun_path, address, n);
  if (address[0] == '@') sun.sun_path[0] = 0;
  socklen_t length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (address[0] == '@' ? 0 : 1));
  int fd = must(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket");
  int size = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  must(bind(fd, (struct sockaddr *)&sun, length), "bind");
  struct out o = {0};
  puts_(&o, "{\"id\":0,\"bound\":true");
  emit(&o);
  static unsigned char buffer[65536];
  union {
    struct cmsghdr align;
    char space[CMSG_SPACE(sizeof(int) * 253)];
  } control;
  struct pollfd watch[2] = {{.fd = fd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
  for (long id = 1;;) {
    if (poll(watch, 2, -1) < 0 && errno != EINTR) return 3;
    if (watch[1].revents) {
      char ignored[64];
      if (read(0, ignored, sizeof ignored) <= 0) return 0;
    }
    if (!(watch[0].revents & POLLIN)) continue;
    struct iovec part = {buffer, sizeof buffer};
    struct msghdr msg = {.msg_iov = &part, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control};
    ssize_t got = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (got < 0) continue;
    int fds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      for (int i = 0; i < count; i++) {
        int received;
        memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        close(received);
      }
      fds += count;
    }
    putf(&o, "{\"id\":%ld,\"fds\":%d,\"truncated\":%d,\"bytes\":", id++, fds, (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0);
    put_hex(&o, buffer, (size_t)got);
    emit(&o);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: harness listen|watchdog|notify|exec CMD [ARGS…] < cases, or harness receive ADDRESS\n");
    return 2;
  }
  const char *mode = argv[1];
  if (strcmp(mode, "receive") == 0) return argc == 3 ? receive(argv[2]) : 2;
  if (strcmp(mode, "exec") == 0) {
    if (argc < 3) return 2;
    exec_argv = argv + 2;
    exec_argc = argc - 2;
  } else if (strcmp(mode, "listen") && strcmp(mode, "watchdog") && strcmp(mode, "notify")) {
    fprintf(stderr, "harness: unknown mode %s\n", mode);
    return 2;
  }
  // SIGCHLD stays blocked in the parent so sigtimedwait() can wait for it.
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int timeout_ms = getenv("HARNESS_TIMEOUT_MS") ? atoi(getenv("HARNESS_TIMEOUT_MS")) : 20000;

  char *line = NULL;
  size_t cap = 0;
  struct test_case c;
  while (getline(&line, &cap, stdin) > 0) {
    if (line[0] == '\n') continue;
    parse_case(line, &c);
    if (strcmp(mode, "listen") == 0)
      run_forked(&c, listen_case, timeout_ms);
    else if (strcmp(mode, "exec") == 0)
      run_forked(&c, exec_case, timeout_ms);
    else if (strcmp(mode, "watchdog") == 0)
      watchdog_case(&c);
    else
      notify_case(&c);
    free_case(&c);
  }
  free(line);
  return 0;
}
