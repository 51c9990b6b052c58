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
// calls from two threads agree).
Napi::Value Registry(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::lock_guard<std::mutex> lock(registry_mutex);
  if (!registry_set && info.Length() > 0 && info[0].IsString()) {
    registry_verdict = info[0].As<Napi::String>().Utf8Value();
    JsonText* text = info.Length() > 1 ? JsonTextOf(info[1]) : nullptr;
    if (text != nullptr) registry_descriptors = std::move(*text);
    registry_set = true;
    return Napi::Boolean::New(env, true);
  }
  if (!registry_set) return env.Undefined();
  return Stored(env);
}

}  // namespace

void RegisterRegistry(Napi::Env env, Napi::Object exports) {
  exports["registry"] = Napi::Function::New(env, Registry, "registry");
}

}  // namespace socket_activation
