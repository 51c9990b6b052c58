// Shared declarations for the addon. Each .cc file owns one concern and exposes a
// Register function that init.cc calls; nothing else crosses file boundaries.
#pragma once

#include <napi.h>

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

// Arguments are validated in TypeScript (the binding is private); these helpers only
// keep a wrong call from reading garbage.
int32_t IntArg(const Napi::CallbackInfo& info, size_t index);

}  // namespace socket_activation
