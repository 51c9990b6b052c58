// Shared declarations for the addon. Each .cc file owns one concern and exposes a
// Register function that init.cc calls; nothing else crosses file boundaries.
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <vector>

namespace socket_activation {

void RegisterInspect(Napi::Env env, Napi::Object exports);
void RegisterDescriptors(Napi::Env env, Napi::Object exports);
void RegisterRegistry(Napi::Env env, Napi::Object exports);
void RegisterSockets(Napi::Env env, Napi::Object exports);
void RegisterProcess(Napi::Env env, Napi::Object exports);
void RegisterNotify(Napi::Env env, Napi::Object exports);
void RegisterClaims(Napi::Env env, Napi::Object exports);
void RegisterWatch(Napi::Env env, Napi::Object exports);
void RegisterReceive(Napi::Env env, Napi::Object exports);
void RegisterSpawn(Napi::Env env, Napi::Object exports);

// Arguments are validated in TypeScript (the binding is private); these helpers only
// keep a wrong call from reading garbage.
int32_t IntArg(const Napi::CallbackInfo& info, size_t index);

// Descriptors as JSON arrays, written by inspect.cc and kept by registry.cc as they are.
struct JsonText {
  struct Array {
    // Shared: the JavaScript strings made from it (external where Node can) hold it too.
    std::shared_ptr<const char[]> bytes;
    size_t length;
  };
  // Each short enough to be an ordinary JavaScript string; concatenated, they list the fds.
  std::vector<Array> arrays;
  // All ASCII (the usual case): given to JavaScript as it is, else decoded as UTF-8.
  bool ascii = true;
};
// One JavaScript string per array: external (not copied) when the text is ASCII and Node
// has external strings, else a copy.
Napi::Array JsonStrings(Napi::Env env, const JsonText& text);
// The JsonText in the `text` that inspectRange() returned, or nullptr for anything else.
JsonText* JsonTextOf(const Napi::Value& value);

// The process-wide registry (registry.cc). With `verdict`: stores it and `text` (moved
// from, when not null) unless something is stored already, and returns true; without:
// undefined when nothing is stored. Otherwise [verdict, descriptors (JSON arrays)], what
// the first call stored.
Napi::Value Registry(Napi::Env env, const std::string* verdict, JsonText* text);

}  // namespace socket_activation
