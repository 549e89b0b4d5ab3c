// Tests of core/matrix.hpp: Matrix is row-major (a batch row and a weight's output row are
// contiguous, as in CSV, safetensors and PyTorch), Vector a column; both default to float.
#include <ldm/core/matrix.hpp>

#include <catch2/catch.hpp>

#include <type_traits>

TEST_CASE("Matrix and Vector: float by default, dynamic sizes, Matrix row-major, Vector a column") {
  STATIC_REQUIRE(std::is_same_v<ldm::Matrix<>::Scalar, float>);
  STATIC_REQUIRE(std::is_same_v<ldm::Vector<>::Scalar, float>);
  STATIC_REQUIRE(std::is_same_v<ldm::Matrix<double>::Scalar, double>);
  STATIC_REQUIRE(std::is_same_v<ldm::Matrix<>, ldm::Matrix<float>>);
  STATIC_REQUIRE(ldm::Matrix<>::IsRowMajor);
  STATIC_REQUIRE(ldm::Matrix<double>::IsRowMajor);
  STATIC_REQUIRE(ldm::Matrix<>::RowsAtCompileTime == Eigen::Dynamic);
  STATIC_REQUIRE(ldm::Matrix<>::ColsAtCompileTime == Eigen::Dynamic);
  STATIC_REQUIRE(ldm::Vector<>::RowsAtCompileTime == Eigen::Dynamic);
  STATIC_REQUIRE(ldm::Vector<>::ColsAtCompileTime == 1);
}

TEST_CASE("Matrix: entries are stored row after row") {
  ldm::Matrix<float> m(2, 3);
  m << 1, 2, 3, 4, 5, 6;
  for (int i = 0; i < 6; ++i) REQUIRE(m.data()[i] == static_cast<float>(i + 1));
  REQUIRE(m.row(1).data() == m.data() + 3);  // a row is contiguous
  REQUIRE(&m(1, 2) == m.data() + 5);
  REQUIRE(m.col(1).innerStride() == 3);  // a column steps over a row

  // A flat buffer read as a row-major [2, 3] matrix (as a file's tensor is): row r holds
  // buffer[3r .. 3r + 2].
  const double buffer[] = {0.5, 1.5, 2.5, 3.5, 4.5, 5.5};
  const Eigen::Map<const ldm::Matrix<double>> view(buffer, 2, 3);
  REQUIRE(view(0, 2) == 2.5);
  REQUIRE(view(1, 0) == 3.5);
  const ldm::Matrix<double> copy = view;
  REQUIRE(copy.row(1) == Eigen::RowVector3d(3.5, 4.5, 5.5));

  const ldm::Vector<float> v = ldm::Vector<float>::LinSpaced(4, 0, 3);
  REQUIRE(v.rows() == 4);
  REQUIRE(v.cols() == 1);
  REQUIRE(v.data()[3] == 3.0f);
}
