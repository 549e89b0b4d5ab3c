// Disk problems (the reliability issue, part 5): saving to a full disk, a read-only folder, or a
// disk that fails at any step reports the path and the system's reason, leaves the previous file
// byte for byte as it was, and leaves no temporary file. Tested three ways: a real 64 KiB tmpfs
// (full, then remounted read-only) where the machine lets the test mount one, a real write
// failure from a file size limit (RLIMIT_FSIZE) which works anywhere, and failures injected into
// each system call through detail::atomic_file_fault_hook.
#include <catch2/catch.hpp>

#include <ldm/data/csv_writer.hpp>
#include <ldm/io/atomic_file.hpp>
#include <ldm/io/safetensors.hpp>
#include <ldm/pipeline/latent_diffusion.hpp>

#include "support/test_files.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

using Catch::Matchers::Contains;
using ldm_test::read_bytes;
using ldm_test::TempDir;

namespace {

// A tensor map of `floats` values (4 bytes each).
ldm::TensorMap tensors_of(Eigen::Index floats, float value) {
  return {{"w", ldm::to_tensor(ldm::Vector<float>::Constant(floats, value))}};
}

// Restores the fault hook when the test ends, however it ends.
struct FaultHook {
  explicit FaultHook(ldm::detail::FileFaultHook hook) { ldm::detail::atomic_file_fault_hook() = hook; }
  ~FaultHook() { ldm::detail::atomic_file_fault_hook() = nullptr; }
};

// The call the hook fails, and with which errno value (a hook is a plain function pointer).
const char* failing_call = "";
int failing_errno = 0;
int fail_one_call(const char* call) { return std::strcmp(call, failing_call) == 0 ? failing_errno : 0; }

// A size-limited tmpfs mounted on a folder, unmounted at the end; mounted() is false where the
// machine does not allow it (not root, no CAP_SYS_ADMIN, a container without mount rights).
struct Tmpfs {
  std::string path, error;
  bool ok = false;
  Tmpfs(const std::string& folder, const char* options) : path(folder) {
    ok = ::mount("tmpfs", path.c_str(), "tmpfs", 0, options) == 0;
    if (!ok) error = std::strerror(errno);
  }
  bool remount_read_only() { return ::mount("tmpfs", path.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr) == 0; }
  ~Tmpfs() {
    if (ok) ::umount2(path.c_str(), MNT_DETACH);
  }
};

std::vector<std::string> entries(const std::string& folder) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(folder)) names.push_back(e.path().filename().string());
  return names;
}

}  // namespace

TEST_CASE("disk: a full disk and a read-only folder keep the previous file (real tmpfs)", "[disk]") {
  TempDir dir("disk_tmpfs");
  const std::string mount_point = dir.file("small");
  std::filesystem::create_directory(mount_point);
  Tmpfs tmpfs(mount_point, "size=64k");
  if (!tmpfs.ok) {
    WARN("skipped: cannot mount a tmpfs here (" << tmpfs.error << "); the fault-injection tests cover this");
    return;
  }
  const std::string path = mount_point + "/model.safetensors";
  ldm::write_safetensors(path, tensors_of(1000, 1.0f));  // 4 KB: fits
  const std::string old_bytes = read_bytes(path);

  // 100,000 floats (400 KB) do not fit in 64 KiB: the write fails with ENOSPC.
  REQUIRE_THROWS_WITH(ldm::write_safetensors(path, tensors_of(100'000, 2.0f)),
                      Contains("saving " + path) && Contains("No space left on device"));
  REQUIRE(read_bytes(path) == old_bytes);
  REQUIRE(entries(mount_point) == std::vector<std::string>{"model.safetensors"});
  // The disk is usable again afterwards: nothing was left behind to fill it.
  ldm::write_safetensors(path, tensors_of(1000, 3.0f));
  REQUIRE(ldm::read_safetensors(path).vector<float>("w")(0) == 3.0f);
  const std::string saved_bytes = read_bytes(path);

  // Read-only: even root cannot create the temporary file.
  REQUIRE(tmpfs.remount_read_only());
  REQUIRE_THROWS_WITH(
      ldm::write_safetensors(path, tensors_of(10, 4.0f)),
      Contains("saving " + path) && Contains("cannot create the temporary file") && Contains("Read-only file system"));
  REQUIRE(read_bytes(path) == saved_bytes);
  REQUIRE(entries(mount_point) == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("disk: a write that the system refuses (file size limit) keeps the previous file", "[disk]") {
  TempDir dir("disk_rlimit");
  const std::string path = dir.file("model.safetensors");
  ldm::write_safetensors(path, tensors_of(100, 1.0f));
  const std::string old_bytes = read_bytes(path);

  // RLIMIT_FSIZE makes write() fail with EFBIG past 8 KiB (SIGXFSZ ignored, so the call fails
  // instead of killing the process). The limit is put back at the end.
  rlimit old_limit{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old_limit;
  small.rlim_cur = 8192;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  std::string error;
  try {
    ldm::write_safetensors(path, tensors_of(100'000, 2.0f));
  } catch (const std::runtime_error& e) {
    error = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);

  REQUIRE_THAT(error, Contains("saving " + path) && Contains("cannot write") && Contains("File too large"));
  REQUIRE(read_bytes(path) == old_bytes);
  REQUIRE(dir.entries() == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("disk: a failure at any step of a save keeps the previous file (injected)", "[disk]") {
  TempDir dir("disk_inject");
  const std::string path = dir.file("model.safetensors");
  ldm::write_safetensors(path, tensors_of(100, 1.0f));
  const std::string old_bytes = read_bytes(path);

  struct Case {
    const char* call;
    int error;
    const char* step;
  };
  for (const Case& c :
       {Case{"open", EACCES, "cannot create the temporary file"},  // a read-only folder
        Case{"open", EROFS, "cannot create the temporary file"}, Case{"write", ENOSPC, "cannot write"},  // a full disk
        Case{"write", EDQUOT, "cannot write"}, Case{"fsync", EIO, "cannot flush"},
        Case{"close", ENOSPC, "cannot close"},  // NFS reports a full disk at close
        Case{"rename", EXDEV, "cannot rename"}}) {
    INFO(c.call << " fails with " << std::strerror(c.error));
    failing_call = c.call;
    failing_errno = c.error;
    const FaultHook hook(fail_one_call);
    REQUIRE_THROWS_WITH(ldm::write_safetensors(path, tensors_of(100, 2.0f)),
                        Contains("saving " + path) && Contains(c.step) && Contains(std::strerror(c.error)));
    REQUIRE(read_bytes(path) == old_bytes);
    REQUIRE(dir.entries() == std::vector<std::string>{"model.safetensors"});
  }
  // Without the hook the same save succeeds.
  ldm::write_safetensors(path, tensors_of(100, 2.0f));
  REQUIRE(ldm::read_safetensors(path).vector<float>("w")(0) == 2.0f);
}

TEST_CASE("disk: every saver (CSV, pipeline, training checkpoint) reports a full disk and keeps the old file",
          "[disk]") {
  TempDir dir("disk_savers");
  failing_call = "write";
  failing_errno = ENOSPC;
  const auto check = [&](const std::string& path, const auto& save) {
    INFO(path);
    save();  // the previous file
    const std::string old_bytes = read_bytes(path);
    {
      const FaultHook hook(fail_one_call);
      REQUIRE_THROWS_WITH(save(), Contains(path) && Contains("No space left on device"));
    }
    REQUIRE(read_bytes(path) == old_bytes);
    REQUIRE(std::filesystem::remove(path));
    REQUIRE(dir.entries().empty());
  };

  const ldm::Matrix<double> values = ldm::Matrix<double>::Constant(3, 2, 1.5);
  check(dir.file("t.csv"), [&] { ldm::write_csv(dir.file("t.csv"), {"a", "b"}, values); });

  ldm::Matrix<float> rows(4, 3);
  rows << 1, 2, 3, 2, 2, 1, 0, 5, 1, 3, 3, 3;
  ldm::FitOptions fit;
  fit.model = {.latent_size = 2, .hidden_size = 4, .num_layers = 1, .num_steps = 10};
  fit.vae = {.steps = 1, .batch_size = 4};
  fit.denoiser = {.steps = 1, .batch_size = 4, .warmup_steps = 0};
  ldm::FitRun<float> run(rows, fit, ldm::make_key(3));
  REQUIRE(run.run());
  check(dir.file("model.safetensors"), [&] { run.model().save(dir.file("model.safetensors")); });
  check(dir.file("state.safetensors"), [&] { run.save_state(dir.file("state.safetensors")); });
}
