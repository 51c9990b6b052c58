// The process-wide registry of what LISTEN_* said. Static storage in the addon is shared
// by every thread and by every JS copy of the package (ESM and CJS, several realms) that
// loads this same binary, so the environment is judged once per process.
#include <mutex>
#include <string>

#include "addon.h"

namespace socket_activation {
namespace {

std::mutex registry_mutex;
bool registry_set = false;
std::string registry_value;

// registry() -> string | undefined: what an earlier call stored.
// registry(value) -> true when `value` was stored, else the string stored before it (the
// first one wins, so concurrent first calls from two threads agree).
Napi::Value Registry(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::lock_guard<std::mutex> lock(registry_mutex);
  if (info.Length() > 0 && info[0].IsString() && !registry_set) {
    registry_value = info[0].As<Napi::String>().Utf8Value();
    registry_set = true;
    return Napi::Boolean::New(env, true);
  }
  if (!registry_set) return env.Undefined();
  return Napi::String::New(env, registry_value);
}

}  // namespace

void RegisterRegistry(Napi::Env env, Napi::Object exports) {
  exports["registry"] = Napi::Function::New(env, Registry, "registry");
}

}  // namespace socket_activation
