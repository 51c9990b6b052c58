// Socket creation for the launcher. Node can bind sockets, but only inside libuv handles
// that own the fd; the launcher needs plain fds it can hand to a child at 3.. (and unix
// datagram / seqpacket sockets Node cannot make at all).
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "addon.h"

namespace socket_activation {
namespace {

Napi::Value Result(Napi::Env env, int r) { return Napi::Number::New(env, r < 0 ? -errno : r); }

// socket(domain, type, protocol = 0) -> fd (close-on-exec) | -errno
Napi::Value Socket(const Napi::CallbackInfo& info) {
  int domain = IntArg(info, 0);
  int type = IntArg(info, 1);
  int protocol = info.Length() > 2 ? IntArg(info, 2) : 0;
  int fd = socket(domain, type, protocol);
  if (fd >= 0 && fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    fd = -1;
  }
  return Result(info.Env(), fd);
}

// bindInet(fd, domain, host, port) -> 0 | -errno (-EINVAL for an unparsable host)
Napi::Value BindInet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0);
  int domain = IntArg(info, 1);
  int port = IntArg(info, 3);
  if (info.Length() < 3 || !info[2].IsString()) return Napi::Number::New(env, -EINVAL);
  std::string host = info[2].As<Napi::String>().Utf8Value();
  sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  socklen_t len;
  if (domain == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &sin->sin_addr) != 1) return Napi::Number::New(env, -EINVAL);
    len = sizeof(*sin);
  } else if (domain == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) != 1) return Napi::Number::New(env, -EINVAL);
    len = sizeof(*sin6);
  } else {
    return Napi::Number::New(env, -EAFNOSUPPORT);
  }
  return Result(env, bind(fd, reinterpret_cast<sockaddr*>(&ss), len));
}

// bindUnix(fd, pathBytes) -> 0 | -errno. A leading NUL byte makes an abstract name,
// bound with its exact length (the way systemd and libsystemd compare them).
Napi::Value BindUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0);
  if (info.Length() < 2 || !info[1].IsTypedArray()) return Napi::Number::New(env, -EINVAL);
  auto path = info[1].As<Napi::Uint8Array>();
  sockaddr_un sun;
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  if (path.ByteLength() == 0 || path.ByteLength() > sizeof(sun.sun_path)) {
    return Napi::Number::New(env, -ENAMETOOLONG);
  }
  memcpy(sun.sun_path, path.Data(), path.ByteLength());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.ByteLength());
  if (sun.sun_path[0] != '\0' && path.ByteLength() < sizeof(sun.sun_path)) len += 1;
  return Result(env, bind(fd, reinterpret_cast<sockaddr*>(&sun), len));
}

// listen(fd, backlog) -> 0 | -errno
Napi::Value Listen(const Napi::CallbackInfo& info) {
  return Result(info.Env(), listen(IntArg(info, 0), IntArg(info, 1)));
}

// setIntOption(fd, level, name, value) -> 0 | -errno
Napi::Value SetIntOption(const Napi::CallbackInfo& info) {
  int value = IntArg(info, 3);
  return Result(info.Env(),
                setsockopt(IntArg(info, 0), IntArg(info, 1), IntArg(info, 2), &value, sizeof(value)));
}

// peerUid(fd) -> uid | -errno: who made the other end of a connected unix socket (for a
// listening socket's peer, the process that called listen()), as the kernel recorded it.
// -ENOTSUP where the platform cannot say.
Napi::Value PeerUid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0);
#if defined(SO_PEERCRED)
  ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return Napi::Number::New(env, -errno);
  return Napi::Number::New(env, static_cast<double>(cred.uid));
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
  uid_t uid;
  gid_t gid;
  if (getpeereid(fd, &uid, &gid) < 0) return Napi::Number::New(env, -errno);
  return Napi::Number::New(env, static_cast<double>(uid));
#else
  (void)fd;
  return Napi::Number::New(env, -ENOTSUP);
#endif
}

}  // namespace

void RegisterSockets(Napi::Env env, Napi::Object exports) {
  exports["socket"] = Napi::Function::New(env, Socket, "socket");
  exports["bindInet"] = Napi::Function::New(env, BindInet, "bindInet");
  exports["bindUnix"] = Napi::Function::New(env, BindUnix, "bindUnix");
  exports["listen"] = Napi::Function::New(env, Listen, "listen");
  exports["setIntOption"] = Napi::Function::New(env, SetIntOption, "setIntOption");
  exports["peerUid"] = Napi::Function::New(env, PeerUid, "peerUid");

  // The platform's numbers for what TypeScript decodes and asks for.
  Napi::Object c = Napi::Object::New(env);
  c["AF_UNIX"] = static_cast<int>(AF_UNIX);
  c["AF_INET"] = static_cast<int>(AF_INET);
  c["AF_INET6"] = static_cast<int>(AF_INET6);
  c["SOCK_STREAM"] = static_cast<int>(SOCK_STREAM);
  c["SOCK_DGRAM"] = static_cast<int>(SOCK_DGRAM);
#if defined(SO_PASSCRED)
  c["SO_PASSCRED"] = static_cast<int>(SO_PASSCRED);
#endif
  c["SOCK_SEQPACKET"] = static_cast<int>(SOCK_SEQPACKET);
  c["SOCK_RAW"] = static_cast<int>(SOCK_RAW);
  c["SOL_SOCKET"] = static_cast<int>(SOL_SOCKET);
  c["SO_REUSEADDR"] = static_cast<int>(SO_REUSEADDR);
  c["IPPROTO_IPV6"] = static_cast<int>(IPPROTO_IPV6);
  c["IPV6_V6ONLY"] = static_cast<int>(IPV6_V6ONLY);
  c["O_NONBLOCK"] = static_cast<int>(O_NONBLOCK);
  c["FD_CLOEXEC"] = static_cast<int>(FD_CLOEXEC);
  exports["constants"] = c;
}

}  // namespace socket_activation
