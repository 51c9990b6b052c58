// inspect(fd) -> JSON array of one Descriptor | -errno
// inspectRange(start, count, acceptFirst, previous?, verdict?) -> { json?: JSON arrays, text?, next, error, registry? }
//
// Writes the facts of facts.cc as the Descriptor objects of src/descriptor.ts, in JSON:
// the same properties in the same order with the same names, `name` null (TypeScript sets
// it) and a unix name's or path's raw bytes in hex (TypeScript makes them a Buffer).
// JSON.parse builds a thousand descriptors faster than JavaScript decoding numbers, or
// arrays of values without the keys, can on the cold VM of a starting process (nothing to
// compile, nothing to warm up), and about twice as fast as N-API setting one property at a
// time (BENCHMARKS.md, section 1). The registry (registry.cc) keeps the same text for every
// copy of the package and thread.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstddef>

#include "addon.h"
#include "facts.h"

namespace socket_activation {
namespace {

constexpr int64_t kMqueueMagic = 0x19800202;
#ifdef __linux__
constexpr int64_t kPidfsMagic = 0x50494446;
#endif

// What fstat says the file is.
const char* FileKind(const Facts& f) {
  switch (f.mode) {
    case S_IFSOCK:
      return "socket";
    case S_IFIFO:
      return "fifo";
    case S_IFREG:
      return f.fs_type == kMqueueMagic ? "mqueue" : "file";
    case S_IFDIR:
      return "directory";
    case S_IFCHR:
      return "char";
    case S_IFBLK:
      return "block";
    case 0:
      // An anon inode has no file type; only its file system (Linux) tells it from garbage.
      return f.fs_type >= 0 ? "anon" : "other";
#ifdef S_IFLNK
    case S_IFLNK:
      // Only O_PATH | O_NOFOLLOW opens a symbolic link itself.
      return PathOnly(f) ? "symlink" : "other";
#endif
    default:
      return "other";
  }
}

// An O_PATH fd is a kind of its own, whatever it names: none of the calls that fit the
// file's kind work on it.
const char* Kind(const Facts& f) { return PathOnly(f) ? "path" : FileKind(f); }

const char* Family(int domain) {
  switch (domain) {
    case AF_INET:
      return "inet";
    case AF_INET6:
      return "inet6";
    case AF_UNIX:
      return "unix";
#ifdef __linux__
    case AF_NETLINK:
      return "netlink";
    case AF_PACKET:
      return "packet";
    case AF_CAN:
      return "can";
    case AF_TIPC:
      return "tipc";
    case AF_BLUETOOTH:
      return "bluetooth";
    case AF_VSOCK:
      return "vsock";
#endif
    default:
      return "other";
  }
}

const char* Type(int type) {
  switch (type) {
    case SOCK_STREAM:
      return "stream";
    case SOCK_DGRAM:
      return "dgram";
    case SOCK_SEQPACKET:
      return "seqpacket";
    case SOCK_RAW:
      return "raw";
    default:
      return "other";
  }
}

// Where the platform has no SO_PROTOCOL (macOS), an inet stream is TCP and an inet
// datagram UDP, as src/descriptor.ts documents.
const char* Protocol(int number, int domain, int type) {
  if (number < 0) {
    if (domain == AF_INET || domain == AF_INET6) return type == SOCK_STREAM ? "tcp" : type == SOCK_DGRAM ? "udp" : "other";
    return domain == AF_UNIX ? "default" : "other";
  }
  switch (number) {
    case 0:
      return "default";
    case 1:
      return "icmp";
    case 6:
      return "tcp";
    case 17:
      return "udp";
    case 58:
      return "icmpv6";
    case 132:
      return "sctp";
    case 136:
      return "udplite";
    case 262:
      return "mptcp";
    default:
      return "other";
  }
}

// Writes arrays of at most about 64 KiB, each into a buffer that has room for it, so
// nothing is checked per byte: a descriptor starts a new array when the current one could
// not take the longest a descriptor can be. V8 puts a string over 128 KiB in its
// large-object space, and making the first one there cost more than writing all the JSON
// (BENCHMARKS.md, section 1); and buffers under 128 KiB come from malloc's heap, where a
// thousand fds took 21 fresh pages (each a page fault) instead of 66.
class Json {
 public:
  // Keys and numbers take under 512 bytes; an address at most 32 and 8 per byte of a unix
  // name or path (as \u00XX, then again in hex for its `raw`), more than an inet
  // address with its zone takes; an anon link 6 per byte.
  static constexpr size_t kLongest = 512 + 2 * (32 + 8 * sizeof(AddressFacts::bytes)) + 6 * sizeof(Facts::anon_link);
  // An inet socket takes about 270 bytes.
  static constexpr size_t kTypical = 320;
  static constexpr size_t kChunk = 64 * 1024;

  explicit Json(size_t expected) : expected_(expected) {}

  void Descriptor(const Facts& f) {
    if (!current_ || end_ - p_ < static_cast<ptrdiff_t>(kLongest + 2)) {
      Close();
      size_t capacity = (expected_ * kTypical < kChunk ? expected_ * kTypical : kChunk) + kLongest + 2;
      current_.reset(new char[capacity]);
      p_ = current_.get();
      end_ = p_ + capacity;
      *p_++ = '[';
    } else {
      *p_++ = ',';
    }
    const char* kind = Kind(f);
    Raw("{\"fd\":");
    Number(f.fd);
    Raw(",\"name\":null,\"kind\":");
    Word(kind);
    Raw(",\"cloexec\":");
    Bool((f.fd_flags & FD_CLOEXEC) != 0);
    Raw(",\"nonblocking\":");
    Bool((f.status_flags & O_NONBLOCK) != 0);
    Raw(",\"dev\":");
    Number(f.dev);
    Raw(",\"ino\":");
    Number(f.ino);
    if (strcmp(kind, "socket") == 0) {
      Raw(",\"type\":");
      Word(Type(f.socket_type));
      Raw(",\"family\":");
      Word(Family(f.domain));
      Raw(",\"protocolNumber\":");
      Number(f.protocol);
      Raw(",\"protocol\":");
      Word(Protocol(f.protocol, f.domain, f.socket_type));
      Raw(",\"listening\":");
      Bool(f.accept_conn == 1);
      Raw(",\"local\":");
      // A raw socket has no ports: Linux reports its protocol number in their place.
      bool ports = f.socket_type != SOCK_RAW;
      if (!Address(f.local, ports)) Raw("{\"unnamed\":true}");
      if (Known(f.peer)) {
        Raw(",\"remote\":");
        Address(f.peer, ports);
      }
      if (f.peer_closed) Raw(",\"peerClosed\":true");
      if (f.domain == AF_INET6 && f.v6only >= 0) {
        Raw(",\"v6only\":");
        Bool(f.v6only == 1);
      }
      if (f.backlog >= 0) {
        Raw(",\"backlog\":");
        Number(f.backlog);
      }
    } else if (strcmp(kind, "path") == 0) {
      Raw(",\"fileKind\":");
      Word(FileKind(f));
    } else if (strcmp(kind, "anon") == 0) {
      Raw(",\"anonType\":");
      AnonType(f);
    } else if (strcmp(kind, "char") == 0) {
      Raw(",\"rdev\":");
      Number(f.rdev);
    }
    *p_++ = '}';
  }

  // The text (an empty array when no descriptor was written), to read or move from. A
  // descriptor written after this starts a new array.
  JsonText& Finish() {
    Close();
    if (text_.arrays.empty()) text_.arrays.push_back({std::shared_ptr<const char[]>(new char[2]{'[', ']'}), 2});
    return text_;
  }

 private:
  void Close() {
    if (!current_) return;
    *p_++ = ']';
    size_t length = p_ - current_.get();
    text_.arrays.push_back({std::shared_ptr<const char[]>(std::move(current_)), length});
  }

  static bool Known(const AddressFacts& a) {
#ifdef __linux__
    if (a.family == AF_VSOCK || a.family == AF_NETLINK) return true;
#endif
    return a.family == AF_INET || a.family == AF_INET6 || a.family == AF_UNIX;
  }

  // false when there is no address of a known family. An inet address has a port if `port`.
  bool Address(const AddressFacts& a, bool port) {
    size_t length = a.length > sizeof(a.bytes) ? sizeof(a.bytes) : a.length;
    if (a.family == AF_INET || a.family == AF_INET6) {
      Raw("{\"address\":\"");
      if (a.family == AF_INET) {
        // inet_ntop formats through sprintf: this is the common case, and a tenth of it.
        for (int i = 0; i < 4; i++) {
          if (i > 0) *p_++ = '.';
          Number(static_cast<uint32_t>(a.bytes[i]));
        }
      } else {
        char text[INET6_ADDRSTRLEN];
        if (inet_ntop(AF_INET6, a.bytes, text, sizeof(text)) == nullptr) text[0] = '\0';
        size_t n = strlen(text);
        memcpy(p_, text, n);
        p_ += n;
        if (a.zone[0] != '\0') {
          *p_++ = '%';
          Escaped(a.zone, strnlen(a.zone, sizeof(a.zone)));
        }
      }
      *p_++ = '"';
      if (port) {
        Raw(",\"port\":");
        Number(a.port);
      }
      if (a.family == AF_INET) {
        Raw(",\"family\":\"IPv4\"}");
      } else {
        Raw(",\"family\":\"IPv6\",\"flowinfo\":");
        Number(a.flowinfo);
        Raw(",\"scopeId\":");
        Number(a.scope_id);
        *p_++ = '}';
      }
      return true;
    }
#ifdef __linux__
    if (a.family == AF_VSOCK) {
      Raw("{\"cid\":");
      Number(a.cid);
      Raw(",\"port\":");
      Number(a.port);
      *p_++ = '}';
      return true;
    }
    if (a.family == AF_NETLINK) {
      Raw("{\"portid\":");
      Number(a.port);
      Raw(",\"groups\":");
      Number(a.groups);
      *p_++ = '}';
      return true;
    }
#endif
    if (a.family != AF_UNIX) return false;
    const char* bytes = reinterpret_cast<const char*>(a.bytes);
    if (length == 0) {
      Raw("{\"unnamed\":true}");
      return true;
    }
    // A path may hold any byte but NUL (it names a file, it is not text), an abstract name any
    // byte at all: `raw` keeps them, `path` or `abstract` is for display.
    bool abstract = bytes[0] == '\0';
    size_t start = abstract ? 1 : 0;
    if (abstract) {
      Raw("{\"abstract\":");
    } else {
      Raw("{\"path\":");
    }
    Text(bytes + start, length - start);
    Raw(",\"raw\":\"");
    static const char kHex[] = "0123456789abcdef";
    for (size_t i = start; i < length; i++) {
      *p_++ = kHex[a.bytes[i] >> 4];
      *p_++ = kHex[a.bytes[i] & 15];
    }
    Raw("\"}");
    return true;
  }

  // "anon_inode:[eventpoll]" -> "eventpoll", "anon_inode:inotify" -> "inotify".
  void AnonType(const Facts& f) {
#ifdef __linux__
    if (f.fs_type == kPidfsMagic) return Word("pidfd");
#endif
    const char* name = f.anon_link;
    size_t length = f.anon_link_length > sizeof(f.anon_link) ? sizeof(f.anon_link) : f.anon_link_length;
    if (length == 0) return Word("unknown");
    static const char kPrefix[] = "anon_inode:";
    if (length >= sizeof(kPrefix) - 1 && memcmp(name, kPrefix, sizeof(kPrefix) - 1) == 0) {
      name += sizeof(kPrefix) - 1;
      length -= sizeof(kPrefix) - 1;
    }
    if (length >= 2 && name[0] == '[' && name[length - 1] == ']') {
      name += 1;
      length -= 2;
    }
    Text(name, length);
  }

  template <size_t N>
  void Raw(const char (&s)[N]) {
    memcpy(p_, s, N - 1);
    p_ += N - 1;
  }
  void Bool(bool b) {
    if (b) {
      Raw("true");
    } else {
      Raw("false");
    }
  }
  void Number(int64_t n) {
    if (n < 0) {
      *p_++ = '-';
      Number(static_cast<uint64_t>(-(n + 1)) + 1);
    } else {
      Number(static_cast<uint64_t>(n));
    }
  }
  void Number(uint64_t n) {
    char digits[20];
    size_t count = 0;
    do {
      digits[count++] = static_cast<char>('0' + n % 10);
      n /= 10;
    } while (n != 0);
    while (count > 0) *p_++ = digits[--count];
  }
  void Number(int32_t n) { Number(static_cast<int64_t>(n)); }
  void Number(uint32_t n) { Number(static_cast<uint64_t>(n)); }
  // One of this file's own names: nothing to escape.
  void Word(const char* s) {
    size_t n = strlen(s);
    *p_++ = '"';
    memcpy(p_, s, n);
    p_ += n;
    *p_++ = '"';
  }
  // A JSON string of raw bytes. Bytes above 0x7f pass through: the whole text is read as
  // UTF-8, so invalid sequences become U+FFFD, as Buffer#toString('utf8') makes them.
  void Text(const char* s, size_t length) {
    *p_++ = '"';
    Escaped(s, length);
    *p_++ = '"';
  }
  // The inside of such a string.
  void Escaped(const char* s, size_t length) {
    static const char kHex[] = "0123456789abcdef";
    for (size_t i = 0; i < length; i++) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (c == '"' || c == '\\') {
        *p_++ = '\\';
        *p_++ = static_cast<char>(c);
      } else if (c < 0x20) {
        Raw("\\u00");
        *p_++ = kHex[c >> 4];
        *p_++ = kHex[c & 15];
      } else {
        if (c >= 0x80) text_.ascii = false;
        *p_++ = static_cast<char>(c);
      }
    }
  }

  size_t expected_;
  JsonText text_;
  std::unique_ptr<char[]> current_;  // the array being written
  char* p_ = nullptr;
  char* end_ = nullptr;
};

#ifdef __linux__
// Node's external strings (where the running Node has them: 18.18 and 20.4 on) read the
// JSON where the addon wrote it. Copying the 266 KB of a thousand fds into V8's young
// generation took about 1.2 ms, mostly first touches of its pages, and filled it enough to
// bring a scavenge into JSON.parse (BENCHMARKS.md, section 1). Declared weak, as the
// headers declare it only for NAPI_EXPERIMENTAL: on an older Node it is null and the text
// is copied as before.
extern "C" __attribute__((weak)) napi_status node_api_create_external_string_latin1(napi_env env, char* str, size_t length,
                                                                                       napi_finalize finalize_callback,
                                                                                       void* finalize_hint, napi_value* result,
                                                                                       bool* copied);

// The string keeps the bytes alive, whoever else (the registry, a later inspectRange())
// lets go of them first. Null when Node cannot make it.
napi_value ExternalLatin1(napi_env env, const JsonText::Array& array) {
  if (node_api_create_external_string_latin1 == nullptr) return nullptr;
  auto* hold = new std::shared_ptr<const char[]>(array.bytes);
  napi_value s = nullptr;
  bool copied = false;
  // V8 never writes to an external string's bytes.
  char* bytes = const_cast<char*>(array.bytes.get());
  napi_status status = node_api_create_external_string_latin1(
      env, bytes, array.length, [](napi_env, void*, void* hint) { delete static_cast<std::shared_ptr<const char[]>*>(hint); }, hold, &s,
      &copied);
  // When it failed nothing holds `hold`; when it copied, Node has already called the finalizer.
  if (status != napi_ok) {
    delete hold;
    return nullptr;
  }
  return s;
}
#else
napi_value ExternalLatin1(napi_env, const JsonText::Array&) { return nullptr; }
#endif

// Tells the Externals of inspectRange() from any other (the binding is private, but a
// wrong argument must not become a wild pointer).
const napi_type_tag kJsonTextTag = {0x736f636b65746163ULL, 0x4a736f6e54657874ULL};

// The writer in the `text` that inspectRange() returned, or nullptr for anything else.
Json* JsonOf(const Napi::Value& value) {
  bool tagged = false;
  if (value.Type() != napi_external || napi_check_object_type_tag(value.Env(), value, &kJsonTextTag, &tagged) != napi_ok || !tagged) {
    return nullptr;
  }
  return value.As<Napi::External<Json>>().Data();
}

Napi::Value Inspect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0);
  if (env.IsExceptionPending()) return env.Undefined();
  Facts f;
  int r = ReadFacts(fd, &f);
  if (r < 0) return Napi::Number::New(env, r);
  Json json(1);
  json.Descriptor(f);
  const JsonText& text = json.Finish();
  return Napi::String::New(env, text.arrays[0].bytes.get(), text.arrays[0].length);
}

// Inspects fds start.. (at most `count`) and makes each close-on-exec as sd_listen_fds()
// does, stopping before the first fd that fstat cannot read or that is not a plain file:
// a pipe or an anon inode may be one of Node's own, which src/registry.ts must recognize
// before anything else touches it (it then passes acceptFirst, and `previous` = the `text`
// returned, to go on). `next` is the first fd not passed; `error` is -errno when setting
// FD_CLOEXEC on `next` failed, else 0. Only when every fd passed, `json` holds all their
// descriptors (of this call and the earlier ones), in JSON arrays to be concatenated.
//
// `text` is the writer itself, which each call goes on with: the array being written stays
// open across the stops, and nothing reaches JavaScript before the end. Handing back the
// text so far at each stop, and copying it into the next call, made a thousand inherited
// pipes take a second and three thousand five.
//
// With `verdict` (or null), the registry (registry.cc) is part of the same call: when it
// holds a verdict already, nothing is inspected and `registry` is what it holds; when
// every fd passed and `verdict` is a string, it and the descriptors are stored there and
// `registry` is true. Otherwise `text` holds the descriptors for registry() and
// `previous`. Discovery thus makes one call into the addon instead of three: each first
// call of an addon function costs a process some ten microseconds or more (BENCHMARKS.md,
// section 1).
Napi::Value InspectRange(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int start = IntArg(info, 0);
  int count = IntArg(info, 1);
  if (env.IsExceptionPending()) return env.Undefined();
  bool accept_first = info.Length() > 2 && info[2].ToBoolean().Value();
  Json* previous = info.Length() > 3 ? JsonOf(info[3]) : nullptr;
  bool registry = info.Length() > 4 && (info[4].IsString() || info[4].IsNull());
  Napi::Object result = Napi::Object::New(env);
  if (registry) {
    Napi::Value stored = Registry(env, nullptr, nullptr);
    if (!stored.IsUndefined()) {
      result["registry"] = stored;
      return result;
    }
  }
  std::unique_ptr<Json> fresh(previous == nullptr ? new Json(count < 0 ? 0 : count < 1024 ? count : 1024) : nullptr);
  Json& json = previous != nullptr ? *previous : *fresh;
  int error = 0;
  int fd = start;
  for (; fd - start < count; fd++) {
    Facts f;
    if (ReadFacts(fd, &f) < 0) break;
    if (!PlainFile(f) && !(fd == start && accept_first)) break;
    if ((f.fd_flags & FD_CLOEXEC) == 0) {
      if (fcntl(fd, F_SETFD, f.fd_flags | FD_CLOEXEC) != 0) {
        error = -errno;
        break;
      }
      f.fd_flags |= FD_CLOEXEC;
    }
    json.Descriptor(f);
  }
  result["next"] = Napi::Number::New(env, fd);
  result["error"] = Napi::Number::New(env, error);
  if (error == 0 && fd - start >= count) {
    JsonText& text = json.Finish();
    result["json"] = JsonStrings(env, text);
    if (registry && info[4].IsString()) {
      std::string verdict = info[4].As<Napi::String>().Utf8Value();
      // Another thread may have stored first: then `json` is ours and `registry` theirs.
      result["registry"] = Registry(env, &verdict, &text);
      return result;
    }
  }
  if (previous != nullptr) {
    result["text"] = info[3];
    return result;
  }
  auto external = Napi::External<Json>::New(env, fresh.release(), [](Napi::Env, Json* j) { delete j; });
  napi_type_tag_object(env, external, &kJsonTextTag);
  result["text"] = external;
  return result;
}


}  // namespace

Napi::Array JsonStrings(Napi::Env env, const JsonText& text) {
  Napi::Array strings = Napi::Array::New(env, text.arrays.size());
  bool* external = env.GetInstanceData<bool>();
  for (size_t i = 0; i < text.arrays.size(); i++) {
    const JsonText::Array& array = text.arrays[i];
    napi_value s = text.ascii && external != nullptr && *external ? ExternalLatin1(env, array) : nullptr;
    if (s == nullptr) {
      if (text.ascii) {
        napi_create_string_latin1(env, array.bytes.get(), array.length, &s);
      } else {
        napi_create_string_utf8(env, array.bytes.get(), array.length, &s);
      }
    }
    strings.Set(static_cast<uint32_t>(i), s);
  }
  return strings;
}

JsonText* JsonTextOf(const Napi::Value& value) {
  Json* json = JsonOf(value);
  return json == nullptr ? nullptr : &json->Finish();
}

void RegisterInspect(Napi::Env env, Napi::Object exports) {
  // External strings only where JavaScript says so (the main thread): a worker's isolate,
  // torn down when the worker exits, runs their finalizers after its napi_env is gone, and
  // Node 20 then crashes the whole process (SIGSEGV in Isolate::Delete).
  env.SetInstanceData(new bool(false));
  exports["useExternalStrings"] = Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    *info.Env().GetInstanceData<bool>() = info.Length() > 0 && info[0].ToBoolean().Value();
  }, "useExternalStrings");
  exports["inspect"] = Napi::Function::New(env, Inspect, "inspect");
  exports["inspectRange"] = Napi::Function::New(env, InspectRange, "inspectRange");
}

}  // namespace socket_activation
