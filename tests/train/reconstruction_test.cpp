// ldm/train/reconstruction.hpp: the mixed loss by hand, its gradient by finite differences, the
// plain case bit for bit the seed's MSE, and a VAE on a mixed table that learns every part.
#include <catch2/catch.hpp>

#include <ldm/data/encoding.hpp>
#include <ldm/train/reconstruction.hpp>
#include <ldm/train/vae_trainer.hpp>

#include "support/gradcheck.hpp"
#include "support/mixed_tables.hpp"

#include <cmath>
#include <limits>

using namespace ldm;
using Catch::Matchers::Contains;
using ldm_test::categorical_column;
using ldm_test::numeric_column;

namespace {

// [v0, v1 | v1 missing | c0, c1, c2]
VectorLayout small_layout() {
  return VectorLayout{
      .width = 6, .numeric = 2, .indicators = 1, .indicator_of = {-1, 2}, .categorical = {{3, 3}}, .columns = {}};
}

// Encoded rows of a small mixed table: 6 columns, 2 numeric with missing cells, 2 categorical.
Table mixed_rows(Key key, Eigen::Index n) {
  Table t;
  t.schema.columns = {
      numeric_column("a", -10, 10, 6),          numeric_column("b", -10, 10, 6, true),
      categorical_column("k", {"x", "y", "z"}), categorical_column("m", {"p", "q"}, true),
      numeric_column("c", 0, 100, 6, true),     numeric_column("i", 0, 10, 0, false, ColumnType::integer)};
  const Matrix<double> z = normal<double>(key, n, 6).values;
  t.cells.resize(n, 6);
  for (Eigen::Index r = 0; r < n; ++r) {
    const double a = z(r, 0), b = 0.8 * a + 0.6 * z(r, 1);
    const double k = a < -0.4 ? 0 : a < 0.4 ? 1 : 2;
    const double m = z(r, 2) < -0.8 ? std::nan("") : b > 0 ? 1 : 0;
    const double c = z(r, 3) > 1.0 ? std::nan("") : std::exp(1 + b);
    t.cells.row(r) << a, z(r, 4) > 0.9 ? std::nan("") : b, k, m, c, std::round(std::clamp(5 + 2 * a, 0.0, 10.0));
  }
  return t;
}

}  // namespace

TEST_CASE("the mixed reconstruction loss of two rows, by hand") {
  const VectorLayout layout = small_layout();
  Matrix<double> x(2, 6), x_hat(2, 6);
  x << 1, 2, 0, 0, 1, 0,         //
      -1, 0, 1, 1, 0, 0;         // v1 missing: no squared error
  x_hat << 1.5, 1, -1, 0, 1, 2,  //
      -1, 3, 2, 1, 0, 0;
  Matrix<double> d_out;
  ReconstructionBuffers<double> b;
  const ReconstructionLoss loss = reconstruction_loss_and_gradient(x_hat, x, &layout, d_out, b);
  const double e = std::exp(1.0);
  REQUIRE(loss.numeric == Approx((0.25 + 1.0) / (2 * 2)).epsilon(1e-15));
  REQUIRE(loss.categorical == Approx((std::log(1 + e + e * e) - 1 + std::log(e + 2) - 1) / 2).epsilon(1e-15));
  REQUIRE(loss.missing == Approx((std::log1p(std::exp(-1.0)) + std::log1p(std::exp(-2.0))) / 2).epsilon(1e-15));
  REQUIRE(loss.total == loss.numeric + loss.categorical + loss.missing);
  // d/dv = 2 (x_hat - x) / (n_numeric B); a missing value's is 0.
  REQUIRE(d_out(0, 0) == Approx(2 * 0.5 / 4).epsilon(1e-15));
  REQUIRE(d_out(1, 1) == 0.0);
  // d/dlogit = (sigmoid - y) / (n_indicators B); d/dlogits = (softmax - onehot) / (n_categorical B).
  REQUIRE(d_out(1, 2) == Approx((1 / (1 + std::exp(-2.0)) - 1) / 2).epsilon(1e-15));
  REQUIRE(d_out(0, 5) == Approx(e * e / (1 + e + e * e) / 2).epsilon(1e-15));
  // Huge logits stay finite (log-sum-exp and softplus with the largest term taken out).
  x_hat.row(0) << 0, 0, -800, 0, 900, -900;
  const ReconstructionLoss big = reconstruction_loss_and_gradient(x_hat, x, &layout, d_out, b);
  REQUIRE(std::isfinite(big.total));
  REQUIRE(d_out.allFinite());
}

TEST_CASE("the mixed loss's gradient equals central finite differences") {
  const Table t = mixed_rows(make_key(1), 12);
  const auto enc = TableEncoding<double>::fit(t);
  const Matrix<double> x = enc.encode(t);
  REQUIRE(enc.layout().indicators == 2);
  REQUIRE(x.col(enc.layout().columns[1].indicator).sum() > 0);  // some b cells are missing
  Matrix<double> x_hat = normal<double>(make_key(2), x.rows(), x.cols()).values * 1.5;
  Matrix<double> d_out, scratch;
  ReconstructionBuffers<double> b;
  reconstruction_loss_and_gradient(x_hat, x, &enc.layout(), d_out, b);
  const Matrix<double> numeric = ldm_test::numeric_gradient(
      x_hat, [&] { return reconstruction_loss_and_gradient(x_hat, x, &enc.layout(), scratch, b).total; });
  INFO("relative error " << ldm_test::relative_error(d_out, numeric));
  REQUIRE(ldm_test::relative_error(d_out, numeric) < 1e-7);
}

TEST_CASE("a plain layout gives the seed's MSE and gradient, bit for bit") {
  const Matrix<float> x = normal<float>(make_key(3), 37, 9).values;
  const Matrix<float> x_hat = normal<float>(make_key(4), 37, 9).values;
  // The seed's formula, written out: per-row squared norms summed in order, / size; 2 d / size.
  Vector<float> rows(37);
  for (Eigen::Index r = 0; r < 37; ++r) rows(r) = (x_hat.row(r) - x.row(r)).squaredNorm();
  const double mse = static_cast<double>(rows.sum()) / static_cast<double>(x.size());
  const Matrix<float> grad = (x_hat - x) * (2.0f / static_cast<float>(x.size()));
  VectorLayout plain{.width = 9,
                     .numeric = 9,
                     .indicators = 0,
                     .indicator_of = std::vector<Eigen::Index>(9, -1),
                     .categorical = {},
                     .columns = {}};
  const VectorLayout* layouts[] = {nullptr, &plain};
  for (const VectorLayout* layout : layouts) {
    Matrix<float> d_out;
    ReconstructionBuffers<float> b;
    const ReconstructionLoss loss = reconstruction_loss_and_gradient(x_hat, x, layout, d_out, b);
    REQUIRE(loss.total == mse);
    REQUIRE(loss.numeric == mse);
    REQUIRE(loss.categorical == 0.0);
    REQUIRE(d_out == grad);
  }
}

TEST_CASE("a VAE step with a mixed layout has the gradient of its total loss") {
  const Table t = mixed_rows(make_key(5), 6);
  const auto enc = TableEncoding<double>::fit(t);
  const Matrix<double> x = enc.encode(t);
  Encoder<double> e(enc.width(), 2, 5, make_key(6));
  Decoder<double> d(enc.width(), 2, 5, make_key(7));
  Encoder<double> ge = zeros_like(e), se = zeros_like(e);
  Decoder<double> gd = zeros_like(d), sd = zeros_like(d);
  VaeBuffers<double> b;
  const VaeLoss loss = vae_loss_and_gradient(e, d, x, make_key(8), 0.2, ge, gd, b, &enc.layout());
  REQUIRE(loss.reconstruction == loss.parts.total);
  REQUIRE(loss.parts.categorical > 0);
  REQUIRE(loss.parts.missing > 0);
  const auto total = [&] { return vae_loss_and_gradient(e, d, x, make_key(8), 0.2, se, sd, b, &enc.layout()).total; };
  REQUIRE(ldm_test::max_parameter_error(e, ge, total) < 1e-6);
  REQUIRE(ldm_test::max_parameter_error(d, gd, total) < 1e-6);
  // A layout of another width is refused by the trainer.
  VectorLayout narrow = enc.layout();
  narrow.width -= 1;
  narrow.categorical.back().size -= 1;
  REQUIRE_THROWS_WITH(VaeTrainer<double>(e, d, x, {}, make_key(9), &narrow), Contains("layout's width"));
}

TEST_CASE("a VAE trained on a mixed table lowers every part of its loss") {
  const Table t = mixed_rows(make_key(10), 512);
  const auto enc = TableEncoding<float>::fit(t);
  const Matrix<float> x = enc.encode(t);
  Encoder<float> e(enc.width(), 4, 64, make_key(11));
  Decoder<float> d(enc.width(), 4, 64, make_key(12));
  const long long steps = 400;
  VaeTrainer<float> trainer(e, d, x, {.steps = steps, .batch_size = 64, .kl_weight = 1e-3, .lr = 3e-3}, make_key(13),
                            &enc.layout());
  ReconstructionLoss first, last;
  for (long long s = 0; s < steps; ++s) {
    const ReconstructionLoss p = trainer.step().parts;
    ReconstructionLoss& into = s < 20 ? first : last;
    if (s < 20 || s >= steps - 20) {
      into.numeric += p.numeric / 20;
      into.categorical += p.categorical / 20;
      into.missing += p.missing / 20;
    }
  }
  INFO("numeric " << first.numeric << " -> " << last.numeric << ", categorical " << first.categorical << " -> "
                  << last.categorical << ", missing " << first.missing << " -> " << last.missing);
  REQUIRE(last.numeric < first.numeric / 4);
  REQUIRE(last.categorical < first.categorical / 2);
  REQUIRE(last.missing < first.missing * 0.8);
}
