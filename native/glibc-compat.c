// glibc 2.33 made fstat() a real exported function (fstat64@GLIBC_2.33, with
// _FILE_OFFSET_BITS=64 as node-gyp builds). A binary built against newer headers then refuses
// to load on glibc 2.28-2.32 (Debian 11, Ubuntu 20.04, RHEL 8), which Node 18-24 themselves
// support. This hidden definition takes the addon's fstat calls instead: the same system call,
// made directly (struct stat64 is the kernel's struct stat on x86-64 and arm64), so the
// prebuilds need no glibc newer than 2.28 (fcntl64).
#define _GNU_SOURCE
#include <features.h>

#if defined(__linux__) && defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33) && (defined(__x86_64__) || defined(__aarch64__))
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((visibility("hidden"))) int fstat64(int fd, struct stat64* st) {
  return (int)syscall(SYS_fstat, fd, st);
}
#endif

// libstdc++ (GCC 11 on) reads glibc 2.32's __libc_single_threaded to skip atomic operations in
// std::shared_ptr's reference counts, which would make the prebuilds need glibc 2.32. This
// hidden definition stays 0 ("threads may exist"), so the counts are always atomic: correct
// in every process, and Node always runs threads anyway.
#if defined(__linux__) && defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
__attribute__((visibility("hidden"))) char __libc_single_threaded = 0;
#endif
