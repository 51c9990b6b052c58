#include "addon.h"

namespace socket_activation {

int32_t IntArg(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || !info[index].IsNumber()) {
    Napi::TypeError::New(info.Env(), "socket-activation native: expected an integer argument")
        .ThrowAsJavaScriptException();
    return -1;
  }
  return info[index].As<Napi::Number>().Int32Value();
}

}  // namespace socket_activation

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  socket_activation::RegisterInspect(env, exports);
  socket_activation::RegisterDescriptors(env, exports);
  socket_activation::RegisterRegistry(env, exports);
  socket_activation::RegisterSockets(env, exports);
  socket_activation::RegisterProcess(env, exports);
  socket_activation::RegisterNotify(env, exports);
  socket_activation::RegisterClaims(env, exports);
  socket_activation::RegisterWatch(env, exports);
  socket_activation::RegisterReceive(env, exports);
  socket_activation::RegisterSpawn(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(socket_activation, Init)
