// Sending to the service manager's notify socket. Node has no AF_UNIX datagram socket, no
// abstract addresses for datagrams, no SCM_RIGHTS and no AF_VSOCK, so this is one native
// send. Unix sends never block (MSG_DONTWAIT: a full queue comes back as -EAGAIN and JS
// retries through the event loop); the vsock form needs connect() and a wait for the
// manager's EOF, so it runs on the libuv thread pool with kernel timeouts.
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <vector>

#if defined(__linux__)
#include <linux/vm_sockets.h>
#endif

#include "addon.h"

namespace socket_activation {
namespace {

// The kernel's limit on fds in one SCM_RIGHTS message (include/net/scm.h).
constexpr size_t kMaxFds = 253;

#if defined(MSG_NOSIGNAL)
constexpr int kSendFlags = MSG_DONTWAIT | MSG_NOSIGNAL;
#else
constexpr int kSendFlags = MSG_DONTWAIT;
#endif

int OpenDatagram(int domain, int type) {
#if defined(SOCK_CLOEXEC)
  return socket(domain, type | SOCK_CLOEXEC, 0);
#else
  int fd = socket(domain, type, 0);
  if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
#endif
}

// Fills msg_control with one SCM_RIGHTS entry; `control` must outlive the sendmsg.
void AttachFds(msghdr* msg, std::vector<char>* control, const int32_t* fds, size_t count) {
  if (count == 0) return;
  control->assign(CMSG_SPACE(sizeof(int) * count), 0);
  msg->msg_control = control->data();
  msg->msg_controllen = control->size();
  cmsghdr* cmsg = CMSG_FIRSTHDR(msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int) * count);
  memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * count);
}

// notifyUnix(path: Uint8Array, message: Uint8Array, fds: Int32Array) -> bytes sent | -errno
// `path` is sun_path without a terminator; a leading 0 byte makes it abstract, sized exactly.
Napi::Value NotifyUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsTypedArray()) {
    Napi::TypeError::New(env, "socket-activation native: notifyUnix(path, message, fds)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array path = info[0].As<Napi::Uint8Array>();
  Napi::Uint8Array message = info[1].As<Napi::Uint8Array>();
  Napi::Int32Array fds = info[2].As<Napi::Int32Array>();

  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.ElementLength() == 0 || path.ElementLength() > sizeof(address.sun_path)) return Napi::Number::New(env, -EINVAL);
  if (fds.ElementLength() > kMaxFds) return Napi::Number::New(env, -E2BIG);
  memcpy(address.sun_path, path.Data(), path.ElementLength());
  socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.ElementLength());

  int fd = OpenDatagram(AF_UNIX, SOCK_DGRAM);
  if (fd < 0) return Napi::Number::New(env, -errno);

  iovec part{message.Data(), message.ElementLength()};
  msghdr msg{};
  msg.msg_name = &address;
  msg.msg_namelen = length;
  msg.msg_iov = &part;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  AttachFds(&msg, &control, fds.Data(), fds.ElementLength());

  ssize_t sent = sendmsg(fd, &msg, kSendFlags);
  int result = sent < 0 ? -errno : static_cast<int>(sent);
  close(fd);
  return Napi::Number::New(env, result);
}

#if defined(__linux__)
// The vsock form (systemd ≥ 254 in VMs): datagram when the transport has it, else a
// connection that carries one message and ends with the manager's EOF, as libsystemd does.
class VsockSend : public Napi::AsyncWorker {
 public:
  VsockSend(Napi::Function callback, uint32_t cid, uint32_t port, int type, std::string message, int timeout_ms)
      : Napi::AsyncWorker(callback), cid_(cid), port_(port), type_(type), message_(std::move(message)), timeout_ms_(timeout_ms) {}

  void Execute() override {
    sockaddr_vm address{};
    address.svm_family = AF_VSOCK;
    address.svm_cid = cid_;
    address.svm_port = port_;
    const sockaddr* sa = reinterpret_cast<const sockaddr*>(&address);

    // An explicit type is used as given; otherwise datagram, then seqpacket, then stream.
    std::vector<int> types;
    if (type_ != 0) {
      types.push_back(type_);
    } else {
      types = {SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM};
    }
    for (size_t i = 0; i < types.size(); i++) {
      bool last = i + 1 == types.size();
      int type = types[i];
      int fd = OpenDatagram(AF_VSOCK, type);
      if (fd < 0) {
        if (Fail("socket") && !last && Unsupported()) continue;
        return;
      }
      timeval tv{timeout_ms_ / 1000, (timeout_ms_ % 1000) * 1000};
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      bool ok = type == SOCK_DGRAM ? SendDatagram(fd, sa, sizeof address) : SendConnected(fd, sa, sizeof address);
      close(fd);
      if (ok) return;
      // A transport may create a socket type it cannot connect (ESOCKTNOSUPPORT at connect):
      // fall through to the next type in the automatic case only.
      if (last || !Unsupported()) return;
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Callback().Call({Napi::Number::New(env, result_), Napi::String::New(env, syscall_)});
  }

 private:
  bool Fail(const char* syscall) {
    result_ = -errno;
    syscall_ = syscall;
    return true;
  }
  bool Unsupported() const {
    return result_ == -ENODEV || result_ == -EOPNOTSUPP || result_ == -ESOCKTNOSUPPORT || result_ == -EPROTONOSUPPORT ||
           result_ == -EAFNOSUPPORT;
  }
  bool SendDatagram(int fd, const sockaddr* sa, socklen_t length) {
    ssize_t sent = sendto(fd, message_.data(), message_.size(), MSG_NOSIGNAL, sa, length);
    if (sent < 0) return !Fail("sendto");
    result_ = static_cast<int>(sent);
    return true;
  }
  bool SendConnected(int fd, const sockaddr* sa, socklen_t length) {
    if (connect(fd, sa, length) < 0) return !Fail("connect");
    size_t done = 0;
    while (done < message_.size()) {
      ssize_t sent = send(fd, message_.data() + done, message_.size() - done, MSG_NOSIGNAL);
      if (sent < 0 && errno == EINTR) continue;
      if (sent < 0) return !Fail("send");
      done += static_cast<size_t>(sent);
    }
    // The manager reads until EOF, then closes: our EOF ends the message, its EOF acknowledges.
    if (shutdown(fd, SHUT_WR) < 0) return !Fail("shutdown");
    char byte;
    ssize_t got;
    do {
      got = recv(fd, &byte, 1, 0);
    } while (got < 0 && errno == EINTR);
    if (got < 0) return !Fail("recv");
    if (got > 0) {
      result_ = -EPROTO;
      syscall_ = "recv";
      return false;
    }
    result_ = static_cast<int>(done);
    return true;
  }

  uint32_t cid_;
  uint32_t port_;
  int type_;
  std::string message_;
  int timeout_ms_;
  int result_ = 0;
  std::string syscall_ = "";
};

// notifyVsock(cid, port, type (0 = automatic), message: string, timeoutMs, callback(result, syscall))
Napi::Value NotifyVsock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6 || !info[3].IsString() || !info[5].IsFunction()) {
    Napi::TypeError::New(env, "socket-activation native: notifyVsock(cid, port, type, message, timeoutMs, callback)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t cid = info[0].As<Napi::Number>().Uint32Value();
  uint32_t port = info[1].As<Napi::Number>().Uint32Value();
  int type = IntArg(info, 2);
  int timeout_ms = IntArg(info, 4);
  auto* work = new VsockSend(info[5].As<Napi::Function>(), cid, port, type, info[3].As<Napi::String>().Utf8Value(), timeout_ms);
  work->Queue();
  return env.Undefined();
}
#endif

}  // namespace

void RegisterNotify(Napi::Env env, Napi::Object exports) {
  exports["notifyUnix"] = Napi::Function::New(env, NotifyUnix, "notifyUnix");
#if defined(__linux__)
  exports["notifyVsock"] = Napi::Function::New(env, NotifyVsock, "notifyVsock");
#endif
}

}  // namespace socket_activation
