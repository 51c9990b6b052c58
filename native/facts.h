// What the kernel says about one fd: read by facts.cc, written as a Descriptor by inspect.cc.
#pragma once

#include <net/if.h>
#include <stdint.h>
#include <sys/un.h>

namespace socket_activation {

struct AddressFacts {
  int32_t family;  // AF_*, or -1: none (getsockname/getpeername failed or no address)
  uint32_t port;   // inet and vsock port; netlink port id
  uint32_t flowinfo;
  uint32_t scope_id;
  uint32_t cid;     // vsock context id
  uint32_t groups;  // netlink multicast groups (a bit mask)
  uint32_t length;  // bytes used in `bytes`: 4, 16, or the unix name's length
  // The raw inet address, or the unix path (an abstract name keeps its leading NUL).
  uint8_t bytes[sizeof(sockaddr_un::sun_path)];
  // A link-local IPv6 address's zone: the name of interface `scope_id` (its number when it
  // has none any more), NUL-terminated; empty for any other address.
  char zone[IF_NAMESIZE];
};

struct Facts {
  int32_t fd;
  int32_t mode;  // st_mode & S_IFMT
  int32_t fd_flags;
  int32_t status_flags;
  // Sockets only; -1 where unknown (or no SO_DOMAIN / SO_PROTOCOL on this platform).
  int32_t socket_type;
  int32_t domain;
  int32_t protocol;
  int32_t accept_conn;
  int32_t v6only;
  int64_t backlog;
  int64_t fs_type;  // fstatfs f_type of regular files and anon inodes, else -1
  uint64_t dev;
  uint64_t ino;
  uint64_t rdev;
  AddressFacts local;
  AddressFacts peer;
  // A TCP connection whose peer reset or closed it: getpeername() fails (ENOTCONN), but
  // TCP_INFO shows a connection existed (a receive MSS was negotiated), unlike a socket that
  // was only bound.
  bool peer_closed;
  // An anon inode's /proc/self/fd link ("anon_inode:[eventpoll]"), which names its type.
  uint32_t anon_link_length;
  char anon_link[64];
};

// Reads everything the kernel will tell about `fd` without changing it.
// Returns 0, or -errno when fstat fails (then only `fd` is set).
int ReadFacts(int fd, Facts* facts);

// Whether the fd was opened with O_PATH (Linux, FreeBSD): it names a file, whose type fstat
// reports, but nothing else works on it (no I/O, no socket call: EBADF).
bool PathOnly(const Facts& facts);

// Whether the facts are of a socket, file, directory or device, or of an O_PATH fd of any
// file: never one of Node's own fds, which are anon inodes (epoll, eventfd, io_uring) or
// pipes. Everything else needs the checks in src/registry.ts before it is touched.
bool PlainFile(const Facts& facts);

}  // namespace socket_activation
