// Descriptor-table operations JS has no call for: FD_CLOEXEC, F_DUPFD_CLOEXEC, close, pipe2,
// whether two fds are one open file, and a readiness check of many fds at once.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__linux__)
#include <linux/kcmp.h>
#include <sys/syscall.h>
#endif

#include <vector>

#include "addon.h"

namespace socket_activation {
namespace {

Napi::Value Result(Napi::Env env, int r) { return Napi::Number::New(env, r < 0 ? -errno : r); }

// setCloexec(fd, on) -> 0 | -errno
Napi::Value SetCloexec(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  bool on = info.Length() > 1 && info[1].ToBoolean().Value();
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return Result(info.Env(), -1);
  int wanted = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
  if (wanted == flags) return Napi::Number::New(info.Env(), 0);
  return Result(info.Env(), fcntl(fd, F_SETFD, wanted));
}

// dup(fd) -> new fd (close-on-exec, >= 3) | -errno
Napi::Value Dup(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  return Result(info.Env(), fcntl(fd, F_DUPFD_CLOEXEC, 3));
}

// close(fd) -> 0 | -errno. Only for fds this package created (dups, launcher sockets).
Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  // Linux closes the fd even when close() reports EINTR: never retry.
  return Result(info.Env(), close(fd));
}

// pipe() -> [readFd, writeFd] (both close-on-exec) | -errno. For the notify barrier: the
// manager holds the write end and closes it once it has processed everything before it.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ends[2];
#if defined(__linux__)
  int r = pipe2(ends, O_CLOEXEC);
#else
  int r = pipe(ends);
  if (r == 0) {
    fcntl(ends[0], F_SETFD, FD_CLOEXEC);
    fcntl(ends[1], F_SETFD, FD_CLOEXEC);
  }
#endif
  if (r < 0) return Napi::Number::New(env, -errno);
  Napi::Array pair = Napi::Array::New(env, 2);
  pair[0u] = Napi::Number::New(env, ends[0]);
  pair[1u] = Napi::Number::New(env, ends[1]);
  return pair;
}

// sameFile(a, b) -> 1 when both fds are one open file description (dup()s of each other, or
// passed twice), 0 when not, -errno. systemd's same_fd(), which its fd store uses to refuse an
// fd it already holds: kcmp(KCMP_FILE); where the kernel or a sandbox refuses kcmp, the same
// inode, not a device, with the same access mode (so the two ends of a pipe differ). Inodes
// alone would merge every eventfd or timerfd (they share one anonymous inode) and a file
// opened twice.
Napi::Value SameFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int a = IntArg(info, 0);
  int b = IntArg(info, 1);
  if (a == b) return Napi::Number::New(env, 1);
#if defined(__linux__) && defined(SYS_kcmp)
  pid_t pid = getpid();
  long r = syscall(SYS_kcmp, pid, pid, KCMP_FILE, a, b);
  if (r >= 0) return Napi::Number::New(env, r == 0 ? 1 : 0);
  if (errno != ENOSYS && errno != EACCES && errno != EPERM) return Napi::Number::New(env, -errno);
#endif
  struct stat sa, sb;
  if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0) return Napi::Number::New(env, -errno);
  if (sa.st_dev != sb.st_dev || sa.st_ino != sb.st_ino) return Napi::Number::New(env, 0);
  if (S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode)) return Napi::Number::New(env, 0);
  int fa = fcntl(a, F_GETFL);
  int fb = fcntl(b, F_GETFL);
  if (fa < 0 || fb < 0) return Napi::Number::New(env, -errno);
  return Napi::Number::New(env, (fa & O_ACCMODE) == (fb & O_ACCMODE) ? 1 : 0);
}

// pollNow(fds: Int32Array, readable: boolean) -> Int32Array | -errno: one poll() that waits
// for nothing. Per fd, bits: 1 bytes to read (POLLIN, only when `readable` is asked for), 2 hung
// up (POLLHUP or POLLERR), 4 not open (POLLNVAL). With nothing asked for, poll() reports only
// what the kernel always reports: the hang-ups systemd watches its fd store for.
Napi::Value PollNow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    Napi::TypeError::New(env, "socket-activation native: pollNow(Int32Array, readable)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Int32Array fds = info[0].As<Napi::Int32Array>();
  short events = info.Length() > 1 && info[1].ToBoolean().Value() ? POLLIN : 0;
  std::vector<struct pollfd> polled(fds.ElementLength());
  for (size_t i = 0; i < polled.size(); i++) polled[i] = {fds[i], events, 0};
  if (poll(polled.data(), polled.size(), 0) < 0) return Napi::Number::New(env, -errno);
  Napi::Int32Array states = Napi::Int32Array::New(env, polled.size());
  for (size_t i = 0; i < polled.size(); i++) {
    short r = polled[i].revents;
    states[i] = ((r & POLLIN) ? 1 : 0) | ((r & (POLLHUP | POLLERR)) ? 2 : 0) | ((r & POLLNVAL) ? 4 : 0);
  }
  return states;
}

}  // namespace

void RegisterDescriptors(Napi::Env env, Napi::Object exports) {
  exports["setCloexec"] = Napi::Function::New(env, SetCloexec, "setCloexec");
  exports["dup"] = Napi::Function::New(env, Dup, "dup");
  exports["close"] = Napi::Function::New(env, Close, "close");
  exports["pipe"] = Napi::Function::New(env, Pipe, "pipe");
  exports["sameFile"] = Napi::Function::New(env, SameFile, "sameFile");
  exports["pollNow"] = Napi::Function::New(env, PollNow, "pollNow");
}

}  // namespace socket_activation
