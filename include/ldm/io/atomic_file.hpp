// Writing a file so that a crash never leaves it half-written: the bytes go to a temporary
// file in the same folder, which is flushed to disk (fsync) and then renamed over the target.
// rename() within one file system is atomic (POSIX), so a reader sees the old file or the
// complete new one, never a mix. POSIX only (open, fsync, rename).
//
// When the disk is full, the folder is read-only, or any step fails, the error names the path
// and the system's reason ("No space left on device"), the previous file is left as it was, and
// the temporary file is removed.
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ldm {

namespace detail {

// Test hook to inject the failures of a full or broken disk: when set, it is called before each
// system call AtomicFile makes, with the call's name ("open", "write", "fsync", "close",
// "rename"); a nonzero return makes that call fail with that errno value. Set it only in tests,
// while no other thread saves.
using FileFaultHook = int (*)(const char* call);
inline FileFaultHook& atomic_file_fault_hook() {
  static FileFaultHook hook = nullptr;
  return hook;
}

// True (with errno set) when the hook fails this call.
inline bool injected_fault(const char* call) {
  const FileFaultHook hook = atomic_file_fault_hook();
  if (!hook) return false;
  const int error = hook(call);
  if (error == 0) return false;
  errno = error;
  return true;
}

}  // namespace detail

// Usage: AtomicFile file(path); file.write(...); ...; file.commit();
// Until commit() succeeds the target is untouched; if the object is destroyed without a
// successful commit (an exception while writing, say) the temporary file is removed.
class AtomicFile {
 public:
  // Creates "<path>.tmp-<pid>-<counter>-<clock>" next to path. Throws std::runtime_error
  // naming the path and the system's reason (e.g. the folder does not exist).
  explicit AtomicFile(std::string path) : path_(std::move(path)) {
    static std::atomic<unsigned long> counter{0};
    for (int attempt = 0; attempt < 100; ++attempt) {
      temp_path_ = path_ + ".tmp-" + std::to_string(static_cast<long>(::getpid())) + "-" +
                   std::to_string(counter.fetch_add(1)) + "-" +
                   std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
      // O_EXCL: never reuse (or follow a link to) a file that already exists.
      fd_ = detail::injected_fault("open") ? -1
                                           : ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ >= 0) return;
      if (errno != EEXIST) break;
    }
    fail("cannot create the temporary file " + temp_path_);
  }

  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  ~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
  }

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

  void write(const void* data, std::size_t size) {
    require_open("write");
    const char* bytes = static_cast<const char*>(data);
    while (size > 0) {
      const ::ssize_t n = detail::injected_fault("write") ? -1 : ::write(fd_, bytes, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("cannot write " + temp_path_);
      }
      if (n == 0) {  // not expected of a regular file; an endless loop would be worse
        errno = EIO;
        fail("cannot write " + temp_path_);
      }
      bytes += n;
      size -= static_cast<std::size_t>(n);
    }
  }
  void write(const std::string& text) { write(text.data(), text.size()); }

  // Flushes the data to disk, closes, and renames the temporary file over path.
  void commit() {
    require_open("commit");
    if (detail::injected_fault("fsync") || ::fsync(fd_) != 0) fail("cannot flush " + temp_path_ + " to disk");
    const int fd = fd_;
    fd_ = -1;
    const int closed = ::close(fd);  // the descriptor is released even when close reports an error
    if (detail::injected_fault("close") || closed != 0) fail("cannot close " + temp_path_);
    if (detail::injected_fault("rename") || std::rename(temp_path_.c_str(), path_.c_str()) != 0)
      fail("cannot rename " + temp_path_ + " to " + path_);
    committed_ = true;
    sync_folder();
  }

 private:
  std::string path_, temp_path_;
  int fd_ = -1;
  bool committed_ = false;

  void require_open(const char* what) const {
    if (fd_ < 0)
      throw std::logic_error("AtomicFile::" + std::string(what) + ": " + path_ + " is already committed or failed");
  }

  [[noreturn]] void fail(const std::string& what) {
    const int error = errno;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("saving " + path_ + ": " + what + ": " + std::strerror(error));
  }

  // Makes the rename itself durable. Best effort: the file is complete either way.
  void sync_folder() const {
    const std::size_t slash = path_.find_last_of('/');
    const std::string folder = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
    const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      (void)::fsync(fd);
      ::close(fd);
    }
  }
};

}  // namespace ldm
