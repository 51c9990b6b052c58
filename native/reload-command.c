// socket-activation-reload PID [--timeout SECONDS]: the reload command for ExecReload= of a
// service that called hotUpgrade(). It does what `socket-activation reload` (src/cli/reload.ts)
// does, with the same arguments, messages and exit statuses, but without starting Node: a
// reload runs beside the starting successor and the serving process, and Node's own start-up
// (some 120 ms of CPU here) was the largest part of the reload's cost to them
// (BENCHMARKS.md, section 3). bin/socket-activation-reload runs this program when it was
// built or prebuilt for the machine, and the Node command otherwise; test/reload-command.test.ts
// checks that both answer alike.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char kHelp[] =
    "Usage: socket-activation reload PID [--timeout SECONDS]\n"
    "\n"
    "Asks the service process PID (which called hotUpgrade()) to upgrade itself and waits for the\n"
    "outcome: exit status 0 once the successor is the main process, 1 when the upgrade was rolled\n"
    "back (the old process keeps serving) or could not be requested. For ExecReload=:\n"
    "\n"
    "  ExecReload=socket-activation reload $MAINPID\n"
    "\n"
    "(kill -HUP returns at once, so systemctl reload could not report a failed upgrade.)\n"
    "SIGTERM (systemctl stop or restart during a reload) ends the wait with status 0.\n";

// Writes `text` as JSON.stringify() would (the Node command quotes arguments that way).
static void PrintJson(FILE* out, const char* text) {
  fputc('"', out);
  for (const unsigned char* c = (const unsigned char*)text; *c; c++) {
    switch (*c) {
      case '"': fputs("\\\"", out); break;
      case '\\': fputs("\\\\", out); break;
      case '\b': fputs("\\b", out); break;
      case '\f': fputs("\\f", out); break;
      case '\n': fputs("\\n", out); break;
      case '\r': fputs("\\r", out); break;
      case '\t': fputs("\\t", out); break;
      default:
        if (*c < 0x20) fprintf(out, "\\u%04x", *c);
        else fputc(*c, out);
    }
  }
  fputc('"', out);
}

// A usage error, as the Node command reports ERR_LAUNCHER_USAGE: exit status 2.
static int Usage(const char* before, const char* quoted, const char* after) {
  fprintf(stderr, "socket-activation: %s", before);
  if (quoted) PrintJson(stderr, quoted);
  fprintf(stderr, "%s\nRun socket-activation reload --help for usage. [ERR_LAUNCHER_USAGE]\n", after);
  return 2;
}

static int IsDigits(const char* s, int allowLeadingZero) {
  if (!*s || (!allowLeadingZero && *s == '0')) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

// setTimeout()'s limit (2^31 - 1 ms), which the Node command shares.
static const double kMaxTimeoutSeconds = 2147483;

// SECONDS as the Node command accepts it (/^[0-9]+(\.[0-9]+)?$/), more than 0.
static int ParseSeconds(const char* s, double* seconds) {
  const char* c = s;
  if (*c < '0' || *c > '9') return 0;
  while (*c >= '0' && *c <= '9') c++;
  if (*c == '.') {
    c++;
    if (*c < '0' || *c > '9') return 0;
    while (*c >= '0' && *c <= '9') c++;
  }
  if (*c) return 0;
  *seconds = strtod(s, NULL);
  return *seconds > 0 && *seconds <= kMaxTimeoutSeconds;
}

// controlPath() in src/control-path.ts: the first directory of $RUNTIME_DIRECTORY, else
// $XDG_RUNTIME_DIR, else os.tmpdir() ($TMPDIR, $TMP, $TEMP, /tmp); trailing slashes dropped.
static int ControlPath(const char* pid, char* path, size_t size) {
  const char* dir = NULL;
  size_t length = 0;
  const char* runtime = getenv("RUNTIME_DIRECTORY");
  if (runtime && *runtime && *runtime != ':') {
    dir = runtime;
    length = strcspn(runtime, ":");
  } else {
    const char* names[] = {"XDG_RUNTIME_DIR", "TMPDIR", "TMP", "TEMP"};
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !dir; i++) {
      const char* value = getenv(names[i]);
      if (value && *value) dir = value;
    }
    if (!dir) dir = "/tmp";
    length = strlen(dir);
  }
  while (length > 0 && dir[length - 1] == '/') length--;
  int n = snprintf(path, size, "%.*s/socket-activation-%s.ctl", (int)length, dir, pid);
  return n >= 0 && (size_t)n < size;
}

// The uid serving the control socket when it is not one that may speak for the service (the
// service process's owner, this command's user or root), else -1; as src/cli/reload.ts says
// why: in a shared temp dir another user can create the path before the service does.
static long long ImpostorOwner(int fd, const char* pid) {
  uid_t uid;
#if defined(SO_PEERCRED)
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -1;
  uid = cred.uid;
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
  gid_t gid;
  if (getpeereid(fd, &uid, &gid) < 0) return -1;
#else
  (void)fd;
  (void)pid;
  return -1;
#endif
  if (uid == 0 || uid == geteuid()) return -1;
  char proc[64];
  struct stat st;
  snprintf(proc, sizeof proc, "/proc/%s", pid);
  if (stat(proc, &st) == 0 && st.st_uid == uid) return -1;
  return (long long)uid;
}

// A unix socket path of at most 107 bytes, as systemd takes them (sun_path with its NUL).
static const size_t kMaxSocketPath = 107;
static const char kTooLong[] =
    "socket-activation: the control socket path %s is %zu bytes, over the %zu a unix socket path holds; cut, it could name "
    "another process's control socket: give the service and this command a shorter $RUNTIME_DIRECTORY\n";

static double Now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

// The error's name as Node's `code` gives it.
static const char* ErrorCode(int error) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
  const char* name = strerrorname_np(error);
  if (name) return name;
#endif
  switch (error) {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOTDIR: return "ENOTDIR";
    case ELOOP: return "ELOOP";
    case EPROTOTYPE: return "EPROTOTYPE";
    case ENOTSOCK: return "ENOTSOCK";
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    case EAGAIN: return "EAGAIN";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOMEM: return "ENOMEM";
    case ENOTCONN: return "ENOTCONN";
    case ENOBUFS: return "ENOBUFS";
    default: return "error";
  }
}

// The line for SIGTERM, written by the handler (write() and _exit() are async-signal-safe).
static char interrupted[256];
static size_t interruptedLength;

static void OnTerm(int number) {
  (void)number;
  ssize_t written = write(STDERR_FILENO, interrupted, interruptedLength);
  (void)written;
  _exit(0);
}

// No answer: the service exited (a hot upgrade's old process does when its successor died, and
// leaves that successor, its child, to the manager). systemd looks at its main process when this
// control process exits; so this process exits only once the manager has collected the service
// (it is gone from /proc) and had a moment for what was re-parented to it, or after 5 s.
static void AwaitCollected(int service) {
  if (service <= 0) return;
  for (int i = 0; i < 500 && (kill(service, 0) == 0 || errno == EPERM); i++) usleep(10000);
  usleep(200000);
}

static int IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

int main(int argc, char** argv) {
  const char* pid = NULL;
  const char* timeoutText = "90";
  double timeout = 90;
  for (int i = 1; i < argc; i++) {
    const char* arg = argv[i];
    if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
      fputs(kHelp, stdout);
      return 0;
    }
    if (!strcmp(arg, "--timeout")) {
      timeoutText = i + 1 < argc ? argv[++i] : "";
      if (!ParseSeconds(timeoutText, &timeout)) return Usage("--timeout needs seconds > 0 (at most 2147483); found ", timeoutText, ".");
    } else if (IsDigits(arg, 0) && strlen(arg) <= 10 && strtoll(arg, NULL, 10) <= 0x7fffffff) {
      if (pid) {
        char after[128];
        snprintf(after, sizeof after, ": reload takes one pid, and %s came before it (ExecReload=socket-activation reload $MAINPID).", pid);
        return Usage("Unexpected argument ", arg, after);
      }
      pid = arg;
    } else {
      return Usage("Unexpected argument ", arg, ": expected a pid (ExecReload=socket-activation reload $MAINPID).");
    }
  }
  if (!pid) return Usage("reload needs the pid of the service process (ExecReload=socket-activation reload $MAINPID).", NULL, "");

  // A service that went away must not kill us with SIGPIPE before we can say so.
  signal(SIGPIPE, SIG_IGN);
  // As the Node command (src/cli/reload.ts says why): SIGTERM, from systemctl stop or restart
  // during a reload, ends the wait with status 0, not with a death the unit would be failed for.
  int printed = snprintf(interrupted, sizeof interrupted,
                         "socket-activation: reload of pid %s interrupted by SIGTERM: the service manager is stopping or restarting the service\n", pid);
  interruptedLength = printed < 0 ? 0 : (size_t)printed < sizeof interrupted ? (size_t)printed : sizeof interrupted - 1;
  struct sigaction onTerm = {.sa_handler = OnTerm};
  sigemptyset(&onTerm.sa_mask);
  sigaction(SIGTERM, &onTerm, NULL);
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  char path[4096];
  int error = 0;
  const char* syscall = "connect";
  if (!ControlPath(pid, path, sizeof path)) error = ENAMETOOLONG;
  // As src/cli/reload.ts: a path cut to what sun_path holds may be another process's socket.
  if (!error && strlen(path) > kMaxSocketPath) {
    fprintf(stderr, kTooLong, path, strlen(path), kMaxSocketPath);
    return 1;
  }
  memcpy(address.sun_path, path, strlen(path));
  const double deadline = Now() + timeout;
  // Non-blocking, as Node's: a full accept queue is EAGAIN at once, not a wait.
  int fd = error ? -1 : socket(AF_UNIX, SOCK_STREAM, 0);
  if (!error && fd < 0) error = errno, syscall = "socket";
  if (!error && fcntl(fd, F_SETFL, O_NONBLOCK) < 0) error = errno, syscall = "fcntl";
  if (!error && connect(fd, (struct sockaddr*)&address, sizeof address) < 0) error = errno;
  long long impostor = error ? -1 : ImpostorOwner(fd, pid);
  if (impostor >= 0) {
    fprintf(stderr,
            "socket-activation: refusing %s: it is served by uid %lld, which is neither pid %s's owner, this command's user nor root "
            "(another user created it first in a shared directory): give the service a directory of its own (RuntimeDirectory=, or "
            "$XDG_RUNTIME_DIR) and restart it\n",
            path, impostor, pid);
    return 1;
  }
  if (!error && write(fd, "upgrade\n", 8) != 8) error = errno, syscall = "write";

  char answer[65536];
  size_t length = 0;
  while (!error) {
    int left = (int)((deadline - Now()) * 1000);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int ready = left > 0 ? poll(&p, 1, left) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) {
      error = errno, syscall = "poll";
      break;
    }
    if (ready == 0) {
      error = ETIMEDOUT;
      break;
    }
    ssize_t n = read(fd, answer + length, sizeof answer - 1 - length);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) error = errno, syscall = "read";
    if (n <= 0) break;
    length += (size_t)n;
    if (length == sizeof answer - 1) break;
  }
  if (error == ETIMEDOUT) {
    fprintf(stderr, "socket-activation: no outcome from pid %s within %s s; the upgrade may still be running\n", pid, timeoutText);
    return 1;
  }
  // As the Node command: no socket to reach, and no process either (EPERM: one of another user).
  if ((error == ENOENT || error == ECONNREFUSED) && kill((pid_t)atoi(pid), 0) < 0 && errno == ESRCH) {
    fprintf(stderr,
            "socket-activation: there is no process %s to ask for an upgrade: start the service, or give its main process's pid "
            "(ExecReload=socket-activation reload $MAINPID).\n",
            pid);
    return 1;
  }
  if (error == ENOENT || error == ECONNREFUSED) {
    fprintf(stderr,
            "socket-activation: pid %s takes no upgrade requests (%s on %s): did it call hotUpgrade()? "
            "The control socket lives in $RUNTIME_DIRECTORY, else $XDG_RUNTIME_DIR, else the temp dir: run the reload with the "
            "service's environment.\n",
            pid, error == ENOENT ? "ENOENT" : "ECONNREFUSED", path);
    return 1;
  }
  if (error) {
    // As Node words a system error: the syscall, the code and, for connect, the address.
    fprintf(stderr, "socket-activation: %s talking to %s: %s %s%s%s\n", ErrorCode(error), path, syscall, ErrorCode(error),
            strcmp(syscall, "connect") ? "" : " ", strcmp(syscall, "connect") ? "" : path);
    return 1;
  }

  // The answer trimmed of white space, as the Node command's trim().
  answer[length] = 0;
  char* text = answer;
  while (IsSpace(*text)) text++;
  for (char* end = text + strlen(text); end > text && IsSpace(end[-1]);) *--end = 0;
  if (!strncmp(text, "ok ", 3)) {
    printf("socket-activation: upgraded; pid %s is the main process now\n", text + 3);
    return 0;
  }
  if (!strncmp(text, "failed ", 7)) text += 7;
  fprintf(stderr, "socket-activation: upgrade of pid %s failed: %s\n", pid, *text ? text : "no answer");
  if (!*text) AwaitCollected(atoi(pid));
  return 1;
}
