// GCC 11's headers make std::allocator<T>::allocate() call std::__throw_bad_array_new_length()
// for an impossible size, and libstdc++ exports it only from GLIBCXX_3.4.29 (GCC 11) on. A
// prebuild made with a newer compiler would then refuse to load on Debian 10/11, Ubuntu 20.04
// and RHEL 8 (GLIBCXX_3.4.25-3.4.28), which Node 18-24 and glibc-compat.c support. Defined
// here, the addon needs nothing newer from the system's libstdc++ than Node itself does
// (GLIBCXX_3.4.21); std::bad_array_new_length has been there since GCC 4.9.
#include <new>

#if defined(__GLIBCXX__)
namespace std {
__attribute__((visibility("hidden"))) void __throw_bad_array_new_length() {
  throw bad_array_new_length();
}
}  // namespace std
#endif
