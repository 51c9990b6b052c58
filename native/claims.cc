// Inherited fds that were handed over to Node whole (not as a duplicate): a connection taken
// back from the fd store must be closed by its net.Socket alone, or no FIN would ever be sent.
// The set is process-wide, like the registry, so two copies of the package (or two threads)
// can never wrap the same fd twice.
#include <mutex>
#include <set>

#include "addon.h"

namespace socket_activation {
namespace {

std::mutex claims_mutex;
std::set<int> claimed;

// claim(fd) -> true for the first caller, false when the fd was claimed before.
Napi::Value Claim(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  std::lock_guard<std::mutex> lock(claims_mutex);
  return Napi::Boolean::New(info.Env(), claimed.insert(fd).second);
}

// claimed(fd) -> whether an earlier claim(fd) took it (its socket may have closed it since).
Napi::Value Claimed(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  std::lock_guard<std::mutex> lock(claims_mutex);
  return Napi::Boolean::New(info.Env(), claimed.count(fd) > 0);
}

// unclaim(fd): Node refused the fd after claim(fd) took it, so no socket holds it.
Napi::Value Unclaim(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  std::lock_guard<std::mutex> lock(claims_mutex);
  claimed.erase(fd);
  return info.Env().Undefined();
}

}  // namespace

void RegisterClaims(Napi::Env env, Napi::Object exports) {
  exports["claim"] = Napi::Function::New(env, Claim, "claim");
  exports["claimed"] = Napi::Function::New(env, Claimed, "claimed");
  exports["unclaim"] = Napi::Function::New(env, Unclaim, "unclaim");
}

}  // namespace socket_activation
