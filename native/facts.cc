// The syscalls behind inspect(): fstat kind and identity, fd and file-status flags, and for
// sockets type, family, protocol, listening state, IPV6_V6ONLY, TCP listener backlog and
// both addresses. Nothing here changes the fd.
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/netlink.h>
#include <linux/vm_sockets.h>
#include <sys/vfs.h>
#endif

#include "facts.h"

namespace socket_activation {
namespace {

int GetIntOption(int fd, int level, int name) {
  int value = 0;
  socklen_t len = sizeof(value);
  if (getsockopt(fd, level, name, &value, &len) != 0 || len != sizeof(value)) return -1;
  return value;
}

void StoreAddress(const sockaddr_storage& ss, socklen_t len, AddressFacts* out) {
  if (len < sizeof(sa_family_t)) return;
  switch (ss.ss_family) {
    case AF_INET: {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
      out->port = ntohs(sin->sin_port);
      memcpy(out->bytes, &sin->sin_addr, 4);
      out->length = 4;
      break;
    }
    case AF_INET6: {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
      out->port = ntohs(sin6->sin6_port);
      out->flowinfo = ntohl(sin6->sin6_flowinfo);
      out->scope_id = sin6->sin6_scope_id;
      memcpy(out->bytes, &sin6->sin6_addr, 16);
      out->length = 16;
      // Only a link-local address needs its zone to mean anything (fe80::1%eth0), and only it
      // gets one, as in the addresses Node's own sockets report.
      if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) && out->scope_id != 0 && if_indextoname(out->scope_id, out->zone) == nullptr) {
        snprintf(out->zone, sizeof(out->zone), "%u", out->scope_id);
      }
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
      memcpy(out->bytes, sun->sun_path, n);
      out->length = static_cast<uint32_t>(n);
      break;
    }
#ifdef __linux__
    case AF_VSOCK: {
      if (len < sizeof(sockaddr_vm)) return;
      const auto* svm = reinterpret_cast<const sockaddr_vm*>(&ss);
      // An unbound vsock socket reports port VMADDR_PORT_ANY: it has no address.
      if (svm->svm_port == VMADDR_PORT_ANY) return;
      out->cid = svm->svm_cid;
      out->port = svm->svm_port;
      break;
    }
    case AF_NETLINK: {
      if (len < sizeof(sockaddr_nl)) return;
      const auto* nl = reinterpret_cast<const sockaddr_nl*>(&ss);
      // Port id 0 with no groups: not bound (the kernel's own address, which no socket of a
      // process has); any other is one.
      if (nl->nl_pid == 0 && nl->nl_groups == 0) return;
      out->port = nl->nl_pid;
      out->groups = nl->nl_groups;
      break;
    }
#endif
    default:
      break;
  }
  out->family = ss.ss_family;
}

void ReadSocketFacts(int fd, Facts* f) {
  f->socket_type = GetIntOption(fd, SOL_SOCKET, SO_TYPE);
  f->accept_conn = GetIntOption(fd, SOL_SOCKET, SO_ACCEPTCONN);
#ifdef SO_DOMAIN
  f->domain = GetIntOption(fd, SOL_SOCKET, SO_DOMAIN);
#endif
#ifdef SO_PROTOCOL
  f->protocol = GetIntOption(fd, SOL_SOCKET, SO_PROTOCOL);
#endif

  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  memset(&ss, 0, sizeof(ss));
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    StoreAddress(ss, len, &f->local);
    if (f->domain < 0) f->domain = ss.ss_family;
  }
  len = sizeof(ss);
  memset(&ss, 0, sizeof(ss));
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) StoreAddress(ss, len, &f->peer);

  if (f->domain == AF_INET6) f->v6only = GetIntOption(fd, IPPROTO_IPV6, IPV6_V6ONLY);

#if defined(__linux__) && defined(TCP_INFO)
  // For a listening TCP socket Linux reports the accept queue limit in tcpi_sacked.
  // An MPTCP socket answers TCP_INFO for its TCP side (systemd's SocketProtocol=mptcp).
  constexpr int kMptcp = 262;
  bool tcp = f->protocol == IPPROTO_TCP || f->protocol == kMptcp ||
             (f->protocol < 0 && f->socket_type == SOCK_STREAM && (f->domain == AF_INET || f->domain == AF_INET6));
  if (tcp && f->accept_conn == 1) {
    struct tcp_info ti;
    socklen_t tlen = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tlen) == 0 &&
        tlen >= offsetof(struct tcp_info, tcpi_sacked) + sizeof(ti.tcpi_sacked)) {
      f->backlog = ti.tcpi_sacked;
    }
  }
  // An Accept=yes connection whose client gave up (RST) before this process started has no
  // peer address left. Its handshake left an RTT sample; a socket that never connected (only
  // bound, its connect() refused, or a listener after shutdown()) has none, though it too is
  // closed and has a receive MSS (the minimum).
  if (tcp && f->accept_conn == 0 && f->peer.family < 0) {
    struct tcp_info ti;
    socklen_t tlen = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tlen) == 0 &&
        tlen >= offsetof(struct tcp_info, tcpi_rtt) + sizeof(ti.tcpi_rtt)) {
      f->peer_closed = ti.tcpi_state == TCP_CLOSE && ti.tcpi_rtt > 0;
    }
  }
#endif
}

#ifdef __linux__
// Reads /proc, never the fd itself.
void ReadAnonLink(Facts* f) {
  char path[40];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", f->fd);
  ssize_t n = readlink(path, f->anon_link, sizeof(f->anon_link));
  f->anon_link_length = n < 0 ? 0 : static_cast<uint32_t>(n);
}
#endif

}  // namespace

int ReadFacts(int fd, Facts* f) {
  memset(f, 0, sizeof(*f));
  f->fd = fd;
  f->socket_type = f->domain = f->protocol = f->accept_conn = f->v6only = -1;
  f->backlog = f->fs_type = -1;
  f->local.family = f->peer.family = -1;

  struct stat st;
  if (fd < 0) return -EBADF;
  if (fstat(fd, &st) != 0) return -errno;
  f->mode = st.st_mode & S_IFMT;
  f->dev = st.st_dev;
  f->ino = st.st_ino;
  f->rdev = st.st_rdev;
  f->fd_flags = fcntl(fd, F_GETFD);
  f->status_flags = fcntl(fd, F_GETFL);
  // An O_PATH fd of a socket file answers fstat as the socket would, but no socket call.
  if (S_ISSOCK(st.st_mode) && !PathOnly(*f)) ReadSocketFacts(fd, f);
#ifdef __linux__
  // Message queues look like regular files and anon inodes have no type: the file
  // system tells them apart (mqueue, anon_inodefs, pidfs).
  if (S_ISREG(st.st_mode) || f->mode == 0) {
    struct statfs sfs;
    if (fstatfs(fd, &sfs) == 0) f->fs_type = static_cast<int64_t>(static_cast<unsigned long>(sfs.f_type));
    if (f->mode == 0 && f->fs_type >= 0) ReadAnonLink(f);
  }
#endif
  return 0;
}

bool PathOnly(const Facts& f) {
#ifdef O_PATH
  return f.status_flags >= 0 && (f.status_flags & O_PATH) != 0;
#else
  return false;
#endif
}

bool PlainFile(const Facts& f) {
  // Node opens no O_PATH fd, and nothing can be read or written through one.
  if (PathOnly(f)) return true;
  switch (f.mode) {
    case S_IFSOCK:
    case S_IFREG:
    case S_IFDIR:
    case S_IFCHR:
    case S_IFBLK:
      return true;
    default:
      return false;
  }
}

}  // namespace socket_activation
