// Shared declarations for the addon. Each .cc file owns one concern and exposes a
// Register function that init.cc calls; nothing else crosses file boundaries.
#pragma once

#include <napi.h>

#include <memory>

namespace socket_activation {

void RegisterInspect(Napi::Env env, Napi::Object exports);
void RegisterDescriptors(Napi::Env env, Napi::Object exports);
void RegisterRegistry(Napi::Env env, Napi::Object exports);
void RegisterSockets(Napi::Env env, Napi::Object exports);
void RegisterProcess(Napi::Env env, Napi::Object exports);

// Arguments are validated in TypeScript (the binding is private); these helpers only
// keep a wrong call from reading garbage.
int32_t IntArg(const Napi::CallbackInfo& info, size_t index);

// Descriptors as a JSON array, written by inspect.cc and kept by registry.cc as they are.
struct JsonText {
  std::unique_ptr<char[]> bytes;
  size_t length = 0;
  // All ASCII (the usual case): copied into JavaScript as it is, else decoded as UTF-8.
  bool ascii = true;
};
Napi::String JsonString(Napi::Env env, const JsonText& text);
// The JsonText in the `text` that inspectRange() returned, or nullptr for anything else.
JsonText* JsonTextOf(const Napi::Value& value);

}  // namespace socket_activation
