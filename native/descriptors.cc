// Descriptor-table operations JS has no call for: FD_CLOEXEC, F_DUPFD_CLOEXEC, close.
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

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

}  // namespace

void RegisterDescriptors(Napi::Env env, Napi::Object exports) {
  exports["setCloexec"] = Napi::Function::New(env, SetCloexec, "setCloexec");
  exports["dup"] = Napi::Function::New(env, Dup, "dup");
  exports["close"] = Napi::Function::New(env, Close, "close");
}

}  // namespace socket_activation
