// The process-wide registry of what LISTEN_* said. Static storage in the addon is shared
// by every thread and by every JS copy of the package (ESM and CJS, several realms) that
// loads this same binary, so the environment is judged once per process.
//
// It holds two texts: the verdict (activated and the names, or why not, or the error) and
// the inherited fds' descriptors as inspectRange() wrote them. Every copy parses the same
// text, so all of them see the same descriptors, abstract names' raw bytes included.
#include <mutex>
#include <string>

#include "addon.h"

namespace socket_activation {
namespace {

std::mutex registry_mutex;
bool registry_set = false;
std::string registry_verdict;
std::string registry_descriptors;

Napi::Value Stored(Napi::Env env) {
  Napi::Array stored = Napi::Array::New(env, 2);
  stored[0u] = Napi::String::New(env, registry_verdict);
  stored[1u] = Napi::String::New(env, registry_descriptors);
  return stored;
}

// registry() -> [verdict, descriptors] | undefined: what an earlier call stored.
// registry(verdict, descriptors) -> true when they were stored, else what was stored
// before (the first one wins, so concurrent first calls from two threads agree).
Napi::Value Registry(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::lock_guard<std::mutex> lock(registry_mutex);
  if (!registry_set && info.Length() > 1 && info[0].IsString() && info[1].IsString()) {
    registry_verdict = info[0].As<Napi::String>().Utf8Value();
    registry_descriptors = info[1].As<Napi::String>().Utf8Value();
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
