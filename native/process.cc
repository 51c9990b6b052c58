// pidfdId() -> bigint | -errno: the inode number of a pidfd for this process, which newer
// systemd puts in LISTEN_PIDFDID. It identifies the process only on pidfs (Linux >= 6.9);
// older kernels give every pidfd the same anon inode, so there it returns -EOPNOTSUPP and
// the caller skips the check, as libsystemd does when it cannot read the id.
#include <errno.h>
#include <unistd.h>

#include "addon.h"

#ifdef __linux__
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#endif

namespace socket_activation {
namespace {

#ifdef __linux__
constexpr long kPidfsMagic = 0x50494446;
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#endif

Napi::Value PidfdId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef __linux__
  int fd = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0));
  if (fd < 0) return Napi::Number::New(env, -errno);
  struct statfs sfs;
  struct stat st;
  int result = 0;
  if (fstatfs(fd, &sfs) != 0 || fstat(fd, &st) != 0) {
    result = -errno;
  } else if (static_cast<long>(sfs.f_type) != kPidfsMagic) {
    result = -EOPNOTSUPP;
  }
  close(fd);
  if (result != 0) return Napi::Number::New(env, result);
  return Napi::BigInt::New(env, static_cast<uint64_t>(st.st_ino));
#else
  return Napi::Number::New(env, -EOPNOTSUPP);
#endif
}

}  // namespace

void RegisterProcess(Napi::Env env, Napi::Object exports) {
  exports["pidfdId"] = Napi::Function::New(env, PidfdId, "pidfdId");
}

}  // namespace socket_activation
