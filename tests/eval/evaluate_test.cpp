// Tests of ldm/eval/evaluate.hpp: standardize_with, evaluate, and on the digits data the whole
// set of metrics (and SoftmaxRegression) telling stand-in generators apart.

#include <ldm/eval/evaluate.hpp>

#include <ldm/core/random.hpp>
#include <ldm/eval/detail/permutation.hpp>
#include <ldm/eval/softmax_regression.hpp>

#include <catch2/catch.hpp>

#include <Eigen/Cholesky>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using Catch::Matchers::Contains;
using ldm::Matrix;

namespace {

Matrix<double> gaussian(std::uint64_t seed, Eigen::Index rows, Eigen::Index cols) {
  return ldm::normal<double>(ldm::make_key(seed), rows, cols).values;
}

struct Digits {
  Matrix<double> x;  // (1797, 64), integers 0..16
  Eigen::VectorXi label;
};

Digits read_digits() {
  std::ifstream in(LDM_EXAMPLES_DATA_DIR "/digits.csv");
  REQUIRE(in);
  std::string line;
  std::getline(in, line);  // header p0..p63,label
  std::vector<std::vector<double>> rows;
  std::size_t short_rows = 0;
  while (std::getline(in, line)) {
    std::stringstream fields(line);
    std::string field;
    rows.emplace_back();
    while (std::getline(fields, field, ',')) rows.back().push_back(std::stod(field));
    short_rows += rows.back().size() != 65 ? 1 : 0;
  }
  REQUIRE(short_rows == 0);
  Digits d{Matrix<double>(static_cast<Eigen::Index>(rows.size()), 64),
           Eigen::VectorXi(static_cast<Eigen::Index>(rows.size()))};
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t c = 0; c < 64; ++c) d.x(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = rows[r][c];
    d.label(static_cast<Eigen::Index>(r)) = static_cast<int>(rows[r][64]);
  }
  return d;
}

}  // namespace

TEST_CASE("standardize_with uses the reference's mean and population std", "[evaluate]") {
  // Column 0: mean 2, population std 1; column 1 is constant, so its std is taken as 1.
  const Matrix<double> reference = Matrix<double>{{1, 5}, {3, 5}};
  const Matrix<double> x = Matrix<double>{{4, 7}, {2, 5}};
  const Matrix<double> z = ldm::standardize_with(reference, x);
  CHECK(z(0, 0) == Approx(2.0));
  CHECK(z(0, 1) == Approx(2.0));
  CHECK(z(1, 0) == Approx(0.0).margin(1e-15));
  CHECK(z(1, 1) == Approx(0.0).margin(1e-15));

  const Matrix<double> data = (gaussian(1, 50, 3).array() * 4.0 + 7.0).matrix();
  const Matrix<double> self = ldm::standardize_with(data, data);
  for (Eigen::Index c = 0; c < 3; ++c) {
    CHECK(self.col(c).mean() == Approx(0.0).margin(1e-12));
    CHECK(std::sqrt(self.col(c).squaredNorm() / 50.0) == Approx(1.0).epsilon(1e-12));
  }
  REQUIRE_THROWS_WITH(ldm::standardize_with(data, Matrix<double>{{1, 2}}),
                      Contains("x must have 3 columns (as reference), got 1x2"));
  REQUIRE_THROWS_WITH(ldm::standardize_with(Matrix<double>(0, 3), data),
                      Contains("reference must have at least 1 rows, got 0x3"));
}

TEST_CASE("evaluate standardises with the reference and runs every metric", "[evaluate]") {
  // Columns in very different units; the report must not depend on them.
  const Eigen::RowVector3d scale(1.0, 100.0, 0.01), shift(5.0, -300.0, 0.0);
  const auto units = [&](const Matrix<double>& m) {
    return Matrix<double>(((m.array().rowwise() * scale.array()).rowwise() + shift.array()).matrix());
  };
  const Matrix<double> train = units(gaussian(60, 200, 3));
  const Matrix<double> holdout = units(gaussian(61, 100, 3));
  Matrix<double> synth = units((gaussian(62, 120, 3).array() * 1.3).matrix());
  synth.row(0) = train.row(5);  // one copied row

  const ldm::QualityReport report = ldm::evaluate(train, holdout, synth);
  const Matrix<double> real_z = ldm::standardize_with(train, holdout);
  const Matrix<double> synth_z = ldm::standardize_with(train, synth);
  CHECK(report.frechet == Approx(ldm::frechet_distance(real_z, synth_z)).epsilon(1e-12));
  CHECK(report.mmd2 == Approx(ldm::mmd2_rbf(real_z, synth_z)).epsilon(1e-12));
  CHECK(report.ks == Approx(ldm::mean_ks(real_z, synth_z)));
  CHECK(report.corr_error == Approx(ldm::correlation_error(real_z, synth_z)).epsilon(1e-12));
  REQUIRE(report.nn_share);
  REQUIRE(report.exact_copies);
  CHECK(*report.exact_copies == 1);
  CHECK(*report.ideal_share == Approx(200.0 / 300));
  CHECK(*report.nn_share == Approx(ldm::memorization(synth_z, ldm::standardize_with(train, train), real_z).nn_share));
  CHECK_FALSE(report.c2st_auc);
  CHECK(report.frechet > 0.1);  // the synthetic rows are 1.3 times too wide

  // In the data's own units FD would be dominated by column 1; standardised, the units cancel.
  const ldm::QualityReport unitless =
      ldm::evaluate(gaussian(60, 200, 3), gaussian(61, 100, 3), (gaussian(62, 120, 3).array() * 1.3).matrix(),
                    {.reference_is_train = false});
  Matrix<double> synth_plain = (gaussian(62, 120, 3).array() * 1.3).matrix();
  CHECK_FALSE(unitless.nn_share);
  const ldm::QualityReport same_units =
      ldm::evaluate(train, holdout, units(synth_plain), {.reference_is_train = false});
  CHECK(same_units.frechet == Approx(unitless.frechet).epsilon(1e-8));
  CHECK(same_units.mmd2 == Approx(unitless.mmd2).epsilon(1e-8));
  CHECK(same_units.ks == Approx(unitless.ks).epsilon(1e-12));
  CHECK(same_units.corr_error == Approx(unitless.corr_error).epsilon(1e-8));

  const ldm::QualityReport with_c2st =
      ldm::evaluate(train, holdout, synth,
                    {.c2st = true, .c2st_options = {.folds = 2, .hidden = 8, .epochs = 5}, .key = ldm::make_key(3)});
  REQUIRE(with_c2st.c2st_auc);
  CHECK(*with_c2st.c2st_auc ==
        ldm::c2st_auc(real_z, synth_z, ldm::make_key(3), {.folds = 2, .hidden = 8, .epochs = 5}));

  REQUIRE_THROWS_WITH(ldm::evaluate(train, holdout, gaussian(1, 10, 2)),
                      Contains("ldm::evaluate: synthetic must have 3 columns (as reference)"));
}

TEST_CASE("on digits the metrics tell a Gaussian fit, shuffled columns and copies apart", "[evaluate][c2st][slow]") {
  const Digits digits = read_digits();
  REQUIRE(digits.x.rows() == 1797);
  // 1200 training rows and 597 held-out rows, in an order drawn from a key.
  const auto order = ldm::detail::permutation(ldm::make_key(0), 1797);
  const Eigen::Index n_train = 1200, n_holdout = 1797 - n_train;
  Matrix<double> train(n_train, 64), holdout(n_holdout, 64);
  Eigen::VectorXi train_label(n_train), holdout_label(n_holdout);
  for (Eigen::Index i = 0; i < 1797; ++i) {
    const Eigen::Index r = order[static_cast<std::size_t>(i)];
    if (i < n_train) {
      train.row(i) = digits.x.row(r);
      train_label(i) = digits.label(r);
    } else {
      holdout.row(i - n_train) = digits.x.row(r);
      holdout_label(i - n_train) = digits.label(r);
    }
  }

  // Three stand-in generators: a Gaussian fit of the training rows (mean, covariance), each
  // column resampled independently from the training rows, and the training rows themselves.
  const Eigen::RowVectorXd mean = train.colwise().mean();
  const Eigen::MatrixXd centered = train.rowwise() - mean;
  Eigen::MatrixXd cov = centered.transpose() * centered / static_cast<double>(n_train - 1);
  cov.diagonal().array() += 1e-9;  // constant pixels
  const Eigen::MatrixXd chol = cov.llt().matrixL();
  const Matrix<double> gaussian_fit =
      (ldm::normal<double>(ldm::make_key(5), n_holdout, 64).values * chol.transpose()).rowwise() + mean;
  const Matrix<double> u = ldm::uniform<double>(ldm::make_key(6), n_holdout, 64).values;
  Matrix<double> columns(n_holdout, 64);
  for (Eigen::Index r = 0; r < n_holdout; ++r)
    for (Eigen::Index c = 0; c < 64; ++c)
      columns(r, c) = train(static_cast<Eigen::Index>(u(r, c) * static_cast<double>(n_train)), c);
  const Matrix<double> copies = train.topRows(n_holdout);

  const ldm::EvaluateOptions options{.c2st = true, .key = ldm::make_key(1)};
  const ldm::QualityReport g = ldm::evaluate(train, holdout, gaussian_fit, options);
  const ldm::QualityReport s = ldm::evaluate(train, holdout, columns, options);
  const ldm::QualityReport c = ldm::evaluate(train, holdout, copies, options);
  const auto show = [](const ldm::QualityReport& r) {
    return ldm::detail::concat("fd ", r.frechet, " mmd2 ", r.mmd2, " ks ", r.ks, " corr ", r.corr_error, " nn ",
                               *r.nn_share, " copies ", *r.exact_copies, " c2st ", *r.c2st_auc);
  };
  INFO("gaussian fit: " << show(g) << "\ncolumns: " << show(s) << "\ncopies: " << show(c));

  // Seen with these keys: C2ST 0.97, 0.99, 0.47 (scikit-learn's MLP: 0.90, 0.99, 0.50).
  CHECK(*g.c2st_auc > 0.85);
  CHECK(*s.c2st_auc > 0.95);
  CHECK(*c.c2st_auc == Approx(0.5).margin(0.1));
  // The Gaussian's continuous values miss the integer marginals; resampled columns keep them
  // but lose the correlations the Gaussian keeps.
  CHECK(g.ks > 0.2);
  CHECK(s.ks < 0.06);
  CHECK(s.corr_error > 2 * g.corr_error);
  // Memorisation: only the copies sit on the training rows.
  CHECK(*g.ideal_share == Approx(1200.0 / 1797));
  CHECK(*g.nn_share == Approx(*g.ideal_share).margin(0.05));
  CHECK(*s.nn_share == Approx(*s.ideal_share).margin(0.05));
  CHECK(*g.exact_copies == 0);
  CHECK(*c.nn_share == 1.0);
  CHECK(*c.exact_copies == static_cast<std::size_t>(n_holdout));

  // The conditional-generation classifier on real held-out rows (seen: 0.98).
  ldm::SoftmaxRegression classifier;
  classifier.fit(train, train_label);
  CHECK(classifier.num_classes() == 10);
  CHECK(classifier.accuracy(holdout, holdout_label) > 0.95);
}
