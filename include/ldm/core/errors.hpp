// The library's exception types, and the message builder every check uses.
//
// Bad arguments throw std::invalid_argument, files and I/O std::runtime_error; two subclasses
// of std::runtime_error carry more: FormatError (a malformed file: which file, which tensor) and
// TrainingError (a loss that is not finite: training stopped before that step changed a weight).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace ldm {

// A malformed file or checkpoint. The message reads "<where>: <file>: tensor '<name>': <what>"
// (without the tensor part when the error is about the file as a whole).
class FormatError : public std::runtime_error {
 public:
  FormatError(const std::string& where, const std::string& file, const std::string& tensor, const std::string& what)
      : std::runtime_error(where + ": " + file + ": " + (tensor.empty() ? "" : "tensor '" + tensor + "': ") + what),
        file_(file),
        tensor_(tensor) {}
  const std::string& file() const { return file_; }
  const std::string& tensor() const { return tensor_; }

 private:
  std::string file_, tensor_;
};

// A NaN or Inf loss: training stops before the bad step updates anything.
struct TrainingError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {

// The parts streamed into one string: concat("got ", 3, " rows") == "got 3 rows".
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  ((out << parts), ...);  // (a comma fold: no parts gives "")
  return out.str();
}

}  // namespace detail
}  // namespace ldm
