// Starting a process without fork(). child_process.spawn() forks the whole Node process (libuv
// calls fork() on Linux) and its event loop waits until the child has exec'd: 4-13 ms for an
// 87 MB service here, paid by a hot upgrade while it serves. posix_spawn() (glibc: clone with
// CLONE_VM | CLONE_VFORK) copies no page tables, and on the thread pool it holds up only a pool
// thread until the exec.
//
// spawn(path, argv: string[], envp: string[], fds: Int32Array, done(pidOrErrno)) — fds[i] is at
// 3 + i in the child and fds 0-2 are ours (both without FD_CLOEXEC); every other fd of ours is
// close-on-exec already; signal dispositions are reset and no signal is blocked, as libuv does
// for its children. The child is not libuv's: reap() collects its exit status.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "addon.h"

namespace socket_activation {
namespace {

std::vector<std::string> Strings(const Napi::Value& value) {
  std::vector<std::string> out;
  if (!value.IsArray()) return out;
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); i++) out.push_back(array.Get(i).ToString().Utf8Value());
  return out;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(&s[0]);
  out.push_back(nullptr);
  return out;
}

class SpawnWorker : public Napi::AsyncWorker {
 public:
  SpawnWorker(Napi::Function done, std::string path, std::vector<std::string> argv, std::vector<std::string> envp, std::vector<int> fds)
      : Napi::AsyncWorker(done, "socket-activation:spawn"), path_(std::move(path)), argv_(std::move(argv)), envp_(std::move(envp)), fds_(std::move(fds)) {}

  void Execute() override {
    // A source may sit where another one must go (fds 3.. are the listeners themselves), so
    // every source is first copied above the target range and dup2'ed down from there: a
    // dup2 onto itself would leave FD_CLOEXEC set (older glibc), and Node marks even its
    // stdio close-on-exec. A stdio fd that is not open stays closed in the child.
    const int first_free = 3 + static_cast<int>(fds_.size());
    std::vector<int> sources{0, 1, 2};
    sources.insert(sources.end(), fds_.begin(), fds_.end());
    std::vector<int> moved;
    for (size_t i = 0; i < sources.size(); i++) {
      int copy = fcntl(sources[i], F_DUPFD_CLOEXEC, first_free);
      if (copy < 0 && !(i < 3 && errno == EBADF)) {
        result_ = -errno;
        CloseAll(moved);
        return;
      }
      moved.push_back(copy);
    }
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    int r = posix_spawn_file_actions_init(&actions);
    if (r == 0) {
      r = posix_spawnattr_init(&attr);
      if (r != 0) posix_spawn_file_actions_destroy(&actions);
    }
    if (r != 0) {
      result_ = -r;
      CloseAll(moved);
      return;
    }
    for (size_t i = 0; i < moved.size() && r == 0; i++) {
      if (moved[i] >= 0) r = posix_spawn_file_actions_adddup2(&actions, moved[i], static_cast<int>(i));
    }
    sigset_t all;
    sigset_t none;
    sigfillset(&all);
    sigemptyset(&none);
    if (r == 0) r = posix_spawnattr_setsigdefault(&attr, &all);
    if (r == 0) r = posix_spawnattr_setsigmask(&attr, &none);
    if (r == 0) r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    if (r == 0) {
      std::vector<char*> argv = Pointers(argv_);
      std::vector<char*> envp = Pointers(envp_);
      pid_t pid = 0;
      r = posix_spawn(&pid, path_.c_str(), &actions, &attr, argv.data(), envp.data());
      if (r == 0) result_ = pid;
    }
    if (r != 0) result_ = -r;
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    CloseAll(moved);
  }

  void OnOK() override { Callback().Call({Napi::Number::New(Env(), result_)}); }

 private:
  static void CloseAll(const std::vector<int>& fds) {
    for (int fd : fds) {
      if (fd >= 0) close(fd);
    }
  }

  std::string path_;
  std::vector<std::string> argv_;
  std::vector<std::string> envp_;
  std::vector<int> fds_;
  int result_ = -EINVAL;
};

Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsString() || !info[1].IsArray() || !info[2].IsArray() || !info[3].IsTypedArray() || !info[4].IsFunction()) {
    Napi::TypeError::New(env, "socket-activation native: spawn(path, argv, envp, fds, done)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Int32Array list = info[3].As<Napi::Int32Array>();
  std::vector<int> fds(list.Data(), list.Data() + list.ElementLength());
  auto* worker = new SpawnWorker(info[4].As<Napi::Function>(), info[0].As<Napi::String>().Utf8Value(), Strings(info[1]), Strings(info[2]), std::move(fds));
  worker->Queue();
  return env.Undefined();
}

}  // namespace

void RegisterSpawn(Napi::Env env, Napi::Object exports) {
  exports["spawn"] = Napi::Function::New(env, Spawn, "spawn");
}

}  // namespace socket_activation
