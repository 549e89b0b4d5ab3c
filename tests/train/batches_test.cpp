// ldm/train/batches.hpp: BatchOrder (the shuffled order of the rows, epoch by epoch) and the
// gather of a batch.
#include <catch2/catch.hpp>

#include <ldm/core/random.hpp>
#include <ldm/core/threads.hpp>
#include <ldm/train/batches.hpp>

#include <cstdint>
#include <set>
#include <span>
#include <vector>

using namespace ldm;
using Catch::Matchers::Contains;

TEST_CASE("BatchOrder: every epoch is a permutation drawn from the key") {
  BatchOrder order(10, 3, make_key(1));
  REQUIRE(order.batch_size() == 3);
  std::multiset<std::uint32_t> epoch0;
  for (int s = 0; s < 3; ++s)
    for (auto i : order.batch(s)) epoch0.insert(i);
  REQUIRE(epoch0.size() == 9);  // 3 batches of 3, the 10th row dropped this epoch
  REQUIRE(std::set<std::uint32_t>(epoch0.begin(), epoch0.end()).size() == 9);
  const auto first_of_epoch1 = std::vector<std::uint32_t>(order.batch(3).begin(), order.batch(3).end());
  const auto first_of_epoch0 = std::vector<std::uint32_t>(order.batch(0).begin(), order.batch(0).end());
  REQUIRE(order.epoch_of(3) == 1);
  REQUIRE(first_of_epoch0 != first_of_epoch1);
  BatchOrder again(10, 3, make_key(1));
  REQUIRE(std::vector<std::uint32_t>(again.batch(3).begin(), again.batch(3).end()) == first_of_epoch1);
  BatchOrder small(2, 8, make_key(1));  // fewer rows than a batch: the batch is the data set
  REQUIRE(small.batch(5).size() == 2);
  REQUIRE_THROWS_WITH(BatchOrder(0, 3, make_key(1)), Contains("no rows"));
  REQUIRE_THROWS_WITH(BatchOrder(5, 0, make_key(1)), Contains("batch_size"));
}

TEST_CASE("gather_rows copies the listed rows in their order, the same for 1 and 2 threads") {
  Matrix<double> from(5, 3);
  for (Eigen::Index r = 0; r < 5; ++r)
    for (Eigen::Index c = 0; c < 3; ++c) from(r, c) = 10.0 * static_cast<double>(r) + static_cast<double>(c);
  const std::vector<std::uint32_t> rows{4, 0, 4, 2};
  Matrix<double> to = Matrix<double>::Constant(7, 1, -1.0);  // resized to the batch
  detail::gather_rows(from, std::span<const std::uint32_t>(rows), to);
  REQUIRE(to.rows() == 4);
  REQUIRE(to.cols() == 3);
  for (Eigen::Index i = 0; i < 4; ++i) REQUIRE(to.row(i) == from.row(rows[static_cast<std::size_t>(i)]));
  // Many rows, split among threads: the same bits as one thread.
  const Matrix<double> big = normal<double>(make_key(2), 3000, 40).values;
  BatchOrder order(3000, 2500, make_key(3));
  Matrix<double> one, two;
  set_num_threads(1);
  detail::gather_rows(big, order.batch(0), one);
  set_num_threads(2);
  detail::gather_rows(big, order.batch(0), two);
  set_num_threads(0);
  REQUIRE(one.rows() == 2500);
  REQUIRE(one == two);
  REQUIRE(one.row(0) == big.row(order.batch(0)[0]));
}
