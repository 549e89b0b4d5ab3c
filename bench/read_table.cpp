// Reads a CSV table with ldm::read_table and prints one line of JSON: rows, columns, the number
// of categorical columns and the seconds the read took. bench/read_table.py runs it under
// /usr/bin/time -v (peak memory) beside pandas.read_csv.
//   ldm_read_table [--read-csv] <file.csv>
// --read-csv reads it with the numeric-only ldm::read_csv instead, for comparison.
#include <ldm/data/csv_reader.hpp>
#include <ldm/data/table_reader.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>

int main(int argc, char** argv) {
  const bool read_csv = argc == 3 && std::strcmp(argv[1], "--read-csv") == 0;
  if (argc != 2 && !read_csv) {
    std::fprintf(stderr, "usage: ldm_read_table [--read-csv] <file.csv>\n");
    return 2;
  }
  try {
    const auto start = std::chrono::steady_clock::now();
    long rows = 0, columns = 0, categorical = 0;
    if (read_csv) {
      const ldm::CsvTable table = ldm::read_csv(argv[2]);
      rows = static_cast<long>(table.rows());
      columns = static_cast<long>(table.columns.size());
    } else {
      const ldm::TableRead read = ldm::read_table(argv[1]);
      rows = static_cast<long>(read.table.rows());
      columns = static_cast<long>(read.table.cols());
      for (const ldm::Column& c : read.table.schema.columns) categorical += c.is_categorical();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("{\"rows\": %ld, \"columns\": %ld, \"categorical\": %ld, \"seconds\": %.3f}\n", rows, columns,
                categorical, seconds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
