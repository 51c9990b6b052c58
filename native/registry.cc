// The process-wide registry of what LISTEN_* said. Static storage in the addon is shared
// by every thread and by every JS copy of the package (ESM and CJS, several realms) that
// loads this same binary, so the environment is judged once per process.
//
// It holds two texts: the verdict (activated and the names, or why not, or the error) and
// the inherited fds' descriptors, the very bytes inspectRange() wrote (moved, not copied).
// Every copy parses the same text, so all of them see the same descriptors, abstract
// names' raw bytes included.
#include <mutex>
#include <string>

#include "addon.h"

namespace socket_activation {
namespace {

std::mutex registry_mutex;
bool registry_set = false;
std::string registry_verdict;
JsonText registry_descriptors;

Napi::Value Stored(Napi::Env env) {
  Napi::Array stored = Napi::Array::New(env, 2);
  stored[0u] = Napi::String::New(env, registry_verdict);
  stored[1u] = JsonStrings(env, registry_descriptors);
  return stored;
}

// registry() -> [verdict, descriptors (JSON arrays)] | undefined: what an earlier call stored.
// registry(verdict, text?) -> true when they were stored (`text` from inspectRange() is
// then emptied), else what was stored before (the first one wins, so concurrent first
// calls from two threads agree). inspectRange() stores a complete activated verdict
// itself (the same Registry below), so that discovery makes one call into the addon.
Napi::Value RegistryCall(const Napi::CallbackInfo& info) {
  if (info.Length() == 0 || !info[0].IsString()) return Registry(info.Env(), nullptr, nullptr);
  std::string verdict = info[0].As<Napi::String>().Utf8Value();
  return Registry(info.Env(), &verdict, info.Length() > 1 ? JsonTextOf(info[1]) : nullptr);
}

}  // namespace

Napi::Value Registry(Napi::Env env, const std::string* verdict, JsonText* text) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  if (!registry_set && verdict != nullptr) {
    registry_verdict = *verdict;
    if (text != nullptr) registry_descriptors = std::move(*text);
    registry_set = true;
    return Napi::Boolean::New(env, true);
  }
  if (!registry_set) return env.Undefined();
  return Stored(env);
}

void RegisterRegistry(Napi::Env env, Napi::Object exports) {
  exports["registry"] = Napi::Function::New(env, RegistryCall, "registry");
}

}  // namespace socket_activation
