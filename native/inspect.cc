// inspect(fd, info: Float64Array, bytes: Uint8Array) -> 0 | -errno
//
// Reads everything the kernel will tell about an fd without changing it: fstat kind and
// identity, fd and file-status flags, and for sockets type, family, protocol, listening
// state, IPV6_V6ONLY, TCP listener backlog, and both addresses. Numbers go into `info`
// at the indices of src/native-layout.ts; address bytes go into `bytes` (local at 0,
// peer at kAddressBytes). Typed arrays instead of an object keep discovery of a thousand
// fds close to the cost of the syscalls themselves.
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/vfs.h>
#endif

#include "addon.h"

namespace socket_activation {
namespace {

// Must match src/native-layout.ts.
enum Field {
  kMode = 0,
  kDev,
  kIno,
  kFdFlags,
  kStatusFlags,
  kSocketType,
  kDomain,
  kProtocol,
  kAcceptConn,
  kV6Only,
  kBacklog,
  kRdev,
  kLocal = 12,  // family, port, flowinfo, scope id, byte length
  kPeer = 17,
  kFsType = 22,
  kFieldCount = 23,
};
constexpr size_t kAddressBytes = 128;

int GetIntOption(int fd, int level, int name) {
  int value = 0;
  socklen_t len = sizeof(value);
  if (getsockopt(fd, level, name, &value, &len) != 0 || len != sizeof(value)) return -1;
  return value;
}

// Writes family, port, flowinfo, scope id and the raw address (4/16 bytes) or unix path
// (including the leading NUL of an abstract name) at `slot`. Family -1 means none.
void StoreAddress(const sockaddr_storage& ss, socklen_t len, double* out, uint8_t* bytes) {
  out[0] = -1;
  out[1] = out[2] = out[3] = out[4] = 0;
  if (len < sizeof(sa_family_t)) return;
  out[0] = ss.ss_family;
  switch (ss.ss_family) {
    case AF_INET: {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
      out[1] = ntohs(sin->sin_port);
      memcpy(bytes, &sin->sin_addr, 4);
      out[4] = 4;
      break;
    }
    case AF_INET6: {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
      out[1] = ntohs(sin6->sin6_port);
      out[2] = ntohl(sin6->sin6_flowinfo);
      out[3] = sin6->sin6_scope_id;
      memcpy(bytes, &sin6->sin6_addr, 16);
      out[4] = 16;
      break;
    }
    case AF_UNIX: {
      const auto* sun = reinterpret_cast<const sockaddr_un*>(&ss);
      size_t offset = offsetof(sockaddr_un, sun_path);
      size_t n = len > offset ? len - offset : 0;
      if (n > sizeof(sun->sun_path)) n = sizeof(sun->sun_path);
      // A path name may carry its terminating NUL inside addrlen; an abstract name
      // (first byte NUL) is exactly addrlen long and may hold any bytes.
      if (n > 0 && sun->sun_path[0] != '\0') n = strnlen(sun->sun_path, n);
      memcpy(bytes, sun->sun_path, n);
      out[4] = static_cast<double>(n);
      break;
    }
    default:
      break;
  }
}

void InspectSocket(int fd, double* info, uint8_t* bytes) {
  info[kSocketType] = GetIntOption(fd, SOL_SOCKET, SO_TYPE);
  info[kAcceptConn] = GetIntOption(fd, SOL_SOCKET, SO_ACCEPTCONN);
#ifdef SO_DOMAIN
  info[kDomain] = GetIntOption(fd, SOL_SOCKET, SO_DOMAIN);
#endif
#ifdef SO_PROTOCOL
  info[kProtocol] = GetIntOption(fd, SOL_SOCKET, SO_PROTOCOL);
#endif

  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  memset(&ss, 0, sizeof(ss));
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    StoreAddress(ss, len, info + kLocal, bytes);
    if (info[kDomain] < 0) info[kDomain] = ss.ss_family;
  }
  len = sizeof(ss);
  memset(&ss, 0, sizeof(ss));
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    StoreAddress(ss, len, info + kPeer, bytes + kAddressBytes);
  }

  if (info[kDomain] == AF_INET6) info[kV6Only] = GetIntOption(fd, IPPROTO_IPV6, IPV6_V6ONLY);

#if defined(__linux__) && defined(TCP_INFO)
  // For a listening TCP socket Linux reports the accept queue limit in tcpi_sacked.
  bool tcp = info[kProtocol] == IPPROTO_TCP ||
             (info[kProtocol] < 0 && info[kSocketType] == SOCK_STREAM &&
              (info[kDomain] == AF_INET || info[kDomain] == AF_INET6));
  if (tcp && info[kAcceptConn] == 1) {
    struct tcp_info ti;
    socklen_t tlen = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tlen) == 0 &&
        tlen >= offsetof(struct tcp_info, tcpi_sacked) + sizeof(ti.tcpi_sacked)) {
      info[kBacklog] = ti.tcpi_sacked;
    }
  }
#endif
}

Napi::Value Inspect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0);
  if (env.IsExceptionPending()) return env.Undefined();
  if (info.Length() < 3 || !info[1].IsTypedArray() || !info[2].IsTypedArray()) {
    Napi::TypeError::New(env, "inspect(fd, Float64Array, Uint8Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto numbers = info[1].As<Napi::Float64Array>();
  auto bytes = info[2].As<Napi::Uint8Array>();
  if (numbers.ElementLength() < kFieldCount || bytes.ByteLength() < 2 * kAddressBytes) {
    Napi::RangeError::New(env, "inspect: output arrays too small").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double* out = numbers.Data();
  for (size_t i = 0; i < kFieldCount; i++) out[i] = -1;

  struct stat st;
  if (fd < 0) return Napi::Number::New(env, -EBADF);
  if (fstat(fd, &st) != 0) return Napi::Number::New(env, -errno);
  out[kMode] = st.st_mode & S_IFMT;
  out[kDev] = static_cast<double>(st.st_dev);
  out[kIno] = static_cast<double>(st.st_ino);
  out[kRdev] = static_cast<double>(st.st_rdev);
  out[kFdFlags] = fcntl(fd, F_GETFD);
  out[kStatusFlags] = fcntl(fd, F_GETFL);
  if (S_ISSOCK(st.st_mode)) InspectSocket(fd, out, bytes.Data());
#ifdef __linux__
  // Message queues look like regular files and anon inodes have no type: the file
  // system tells them apart (mqueue, anon_inodefs, pidfs).
  if (S_ISREG(st.st_mode) || (st.st_mode & S_IFMT) == 0) {
    struct statfs sfs;
    if (fstatfs(fd, &sfs) == 0) out[kFsType] = static_cast<double>(static_cast<unsigned long>(sfs.f_type));
  }
#endif
  return Napi::Number::New(env, 0);
}

}  // namespace

void RegisterInspect(Napi::Env env, Napi::Object exports) {
  exports["inspect"] = Napi::Function::New(env, Inspect, "inspect");
}

}  // namespace socket_activation
