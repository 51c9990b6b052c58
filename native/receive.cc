// Receiving what Node cannot: datagrams with SCM_RIGHTS fds and SCM_CREDENTIALS (the
// supervisor's notify socket), and a connected datagram pair for passing fds to a child.
// Every call is non-blocking; readiness comes from watch.cc.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "addon.h"

namespace socket_activation {
namespace {

constexpr size_t kMaxFds = 253;
constexpr size_t kMaxMessage = 64 * 1024;

#if defined(MSG_CMSG_CLOEXEC)
constexpr int kRecvFlags = MSG_DONTWAIT | MSG_CMSG_CLOEXEC;
#else
constexpr int kRecvFlags = MSG_DONTWAIT;
#endif

// receive(fd) -> { data: Buffer, pid, uid, gid, fds: number[], truncated } | -errno (-EAGAIN: nothing now)
// Received fds are close-on-exec and belong to the caller.
Napi::Value Receive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0);
  std::vector<char> data(kMaxMessage);
  std::vector<char> control(CMSG_SPACE(sizeof(int) * kMaxFds)
#if defined(SCM_CREDENTIALS)
                            + CMSG_SPACE(sizeof(ucred))
#endif
  );
  iovec part{data.data(), data.size()};
  msghdr msg{};
  msg.msg_iov = &part;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, kRecvFlags);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Napi::Number::New(env, -errno);

  Napi::Array fds = Napi::Array::New(env);
  Napi::Object out = Napi::Object::New(env);
  out["pid"] = Napi::Number::New(env, 0);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_RIGHTS) {
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      const int* received = reinterpret_cast<const int*>(CMSG_DATA(c));
      for (size_t i = 0; i < count; i++) {
        int one;
        memcpy(&one, received + i, sizeof one);
#if !defined(MSG_CMSG_CLOEXEC)
        fcntl(one, F_SETFD, FD_CLOEXEC);
#endif
        fds.Set(fds.Length(), Napi::Number::New(env, one));
      }
    }
#if defined(SCM_CREDENTIALS)
    if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
      ucred cred;
      memcpy(&cred, CMSG_DATA(c), sizeof cred);
      out["pid"] = Napi::Number::New(env, cred.pid);
      out["uid"] = Napi::Number::New(env, cred.uid);
      out["gid"] = Napi::Number::New(env, cred.gid);
    }
#endif
  }
  out["data"] = Napi::Buffer<char>::Copy(env, data.data(), static_cast<size_t>(n));
  out["fds"] = fds;
  out["truncated"] = Napi::Boolean::New(env, (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0);
  return out;
}

// socketPair(type) -> [fd, fd] (close-on-exec, non-blocking) | -errno
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int type = IntArg(info, 0);
  int ends[2];
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
  if (socketpair(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, ends) < 0) return Napi::Number::New(env, -errno);
#else
  if (socketpair(AF_UNIX, type, 0, ends) < 0) return Napi::Number::New(env, -errno);
  for (int e : ends) {
    fcntl(e, F_SETFD, FD_CLOEXEC);
    fcntl(e, F_SETFL, fcntl(e, F_GETFL) | O_NONBLOCK);
  }
#endif
  Napi::Array pair = Napi::Array::New(env, 2);
  pair[0u] = Napi::Number::New(env, ends[0]);
  pair[1u] = Napi::Number::New(env, ends[1]);
  return pair;
}

// sendOn(fd, message: Uint8Array, fds: Int32Array) -> bytes | -errno, on a connected socket, never blocking.
Napi::Value SendOn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0);
  if (info.Length() < 3 || !info[1].IsTypedArray() || !info[2].IsTypedArray()) {
    Napi::TypeError::New(env, "socket-activation native: sendOn(fd, message, fds)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array message = info[1].As<Napi::Uint8Array>();
  Napi::Int32Array fds = info[2].As<Napi::Int32Array>();
  if (fds.ElementLength() > kMaxFds) return Napi::Number::New(env, -E2BIG);
  iovec part{message.Data(), message.ElementLength()};
  msghdr msg{};
  msg.msg_iov = &part;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (fds.ElementLength() > 0) {
    control.assign(CMSG_SPACE(sizeof(int) * fds.ElementLength()), 0);
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.ElementLength());
    memcpy(CMSG_DATA(c), fds.Data(), sizeof(int) * fds.ElementLength());
  }
#if defined(MSG_NOSIGNAL)
  ssize_t n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
#else
  ssize_t n = sendmsg(fd, &msg, MSG_DONTWAIT);
#endif
  return Napi::Number::New(env, n < 0 ? -errno : static_cast<int>(n));
}

}  // namespace

void RegisterReceive(Napi::Env env, Napi::Object exports) {
  exports["receive"] = Napi::Function::New(env, Receive, "receive");
  exports["socketPair"] = Napi::Function::New(env, SocketPair, "socketPair");
  exports["sendOn"] = Napi::Function::New(env, SendOn, "sendOn");
}

}  // namespace socket_activation
