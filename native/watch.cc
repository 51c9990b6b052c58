// Readiness of an fd, driven by the event loop (libuv's uv_poll on the loop the addon runs in):
// the supervisor's notify socket and the successor's hand-over channel wait here instead of in
// a blocking call. The callback runs on the JS thread; reading is then a non-blocking call.
#include <uv.h>

#include "addon.h"

namespace socket_activation {
namespace {

class Watcher : public Napi::ObjectWrap<Watcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Watcher", {InstanceMethod("close", &Watcher::Close), InstanceMethod("ref", &Watcher::RefHandle), InstanceMethod("unref", &Watcher::UnrefHandle)});
  }

  // new Watcher(fd, onReadable(): void) — starts watching at once.
  explicit Watcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Watcher>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
      Napi::TypeError::New(env, "socket-activation native: new Watcher(fd, callback)").ThrowAsJavaScriptException();
      return;
    }
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "socket-activation native: no event loop").ThrowAsJavaScriptException();
      return;
    }
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    handle_ = new uv_poll_t;
    handle_->data = this;
    int r = uv_poll_init(loop, handle_, info[0].As<Napi::Number>().Int32Value());
    if (r == 0) r = uv_poll_start(handle_, UV_READABLE, OnPoll);
    if (r != 0) {
      delete handle_;
      handle_ = nullptr;
      Napi::Error error = Napi::Error::New(env, uv_strerror(r));
      error.Set("code", Napi::String::New(env, uv_err_name(r)));
      error.ThrowAsJavaScriptException();
      return;
    }
    // The JS object stays alive while the handle is open.
    Napi::ObjectWrap<Watcher>::Ref();
  }

 private:
  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    auto* self = static_cast<Watcher*>(handle->data);
    if (self == nullptr || self->callback_.IsEmpty()) return;
    Napi::Env env = self->callback_.Env();
    Napi::HandleScope scope(env);
    // An error (e.g. the fd was closed under us) is reported as a negative status.
    try {
      self->callback_.MakeCallback(env.Global(), {Napi::Number::New(env, status)});
    } catch (const Napi::Error& e) {
      // What the callback threw is the process's uncaught exception, as from any other
      // event-loop callback; escaping this function it would be std::terminate (SIGABRT).
      napi_fatal_exception(env, e.Value());
    }
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) {
      uv_poll_stop(handle_);
      handle_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      handle_ = nullptr;
      callback_.Reset();
      Napi::ObjectWrap<Watcher>::Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Value RefHandle(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(handle_));
    return info.Env().Undefined();
  }

  Napi::Value UnrefHandle(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
    return info.Env().Undefined();
  }

  uv_poll_t* handle_ = nullptr;
  Napi::FunctionReference callback_;
};

}  // namespace

void RegisterWatch(Napi::Env env, Napi::Object exports) {
  exports["Watcher"] = Watcher::Define(env);
}

}  // namespace socket_activation
