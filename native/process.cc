// Process facts and reaping for the supervisor.
//
// pidfdId() -> bigint | -errno: the inode number of a pidfd for this process, which newer
// systemd puts in LISTEN_PIDFDID. It identifies the process only on pidfs (Linux >= 6.9);
// older kernels give every pidfd the same anon inode, so there it returns -EOPNOTSUPP and
// the caller skips the check, as libsystemd does when it cannot read the id.
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addon.h"

#ifdef __linux__
#include <sys/prctl.h>
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

// reap(pid, leave?) -> { code, signal } when that child had exited (and is now reaped), 0 while
// it runs, -errno (ECHILD: not our child). Only for a pid known not to be a child libuv waits
// for: a supervisor running as PID 1 reaps orphans this way without taking libuv's exit
// statuses. With leave, the exited child stays a zombie (WNOWAIT): a hot upgrade's successor
// that is the main process now must be collected by the service manager, which learns its
// status only when the zombie is re-parented to it.
Napi::Value Reap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid = IntArg(info, 0);
  bool leave = info.Length() > 1 && info[1].ToBoolean().Value();
  siginfo_t si = {};
  int r;
  do {
    r = waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | (leave ? WNOWAIT : 0));
  } while (r < 0 && errno == EINTR);
  if (r < 0) return Napi::Number::New(env, -errno);
  if (si.si_pid == 0) return Napi::Number::New(env, 0);
  Napi::Object out = Napi::Object::New(env);
  if (si.si_code == CLD_EXITED) {
    out["code"] = Napi::Number::New(env, si.si_status);
  } else {
    out["signal"] = Napi::Number::New(env, si.si_status);
  }
  return out;
}

// becomeSubreaper() -> 0 | -errno: orphaned descendants are re-parented to this process instead
// of init (PR_SET_CHILD_SUBREAPER), as they are to systemd, so the supervisor can wait for a
// main process that the child started and handed the role to (MAINPID=) before exiting.
Napi::Value BecomeSubreaper(const Napi::CallbackInfo& info) {
#ifdef __linux__
  int r = prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  return Napi::Number::New(info.Env(), r == 0 ? 0 : -errno);
#else
  return Napi::Number::New(info.Env(), -ENOSYS);
#endif
}

// noCoreDump() -> 0 | -errno: RLIMIT_CORE 0, so that re-raising a child's SIGABRT or SIGSEGV
// to die of it does not write this process's own core over the child's (as GNU timeout does).
Napi::Value NoCoreDump(const Napi::CallbackInfo& info) {
  struct rlimit none = {0, 0};
  return Napi::Number::New(info.Env(), setrlimit(RLIMIT_CORE, &none) == 0 ? 0 : -errno);
}

}  // namespace

void RegisterProcess(Napi::Env env, Napi::Object exports) {
  exports["pidfdId"] = Napi::Function::New(env, PidfdId, "pidfdId");
  exports["reap"] = Napi::Function::New(env, Reap, "reap");
  exports["becomeSubreaper"] = Napi::Function::New(env, BecomeSubreaper, "becomeSubreaper");
  exports["noCoreDump"] = Napi::Function::New(env, NoCoreDump, "noCoreDump");
}

}  // namespace socket_activation
