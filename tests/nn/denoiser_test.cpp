#include <catch2/catch.hpp>

#include <ldm/core/threads.hpp>
#include <ldm/nn/build.hpp>
#include <ldm/nn/denoiser.hpp>

#include "support/gradcheck.hpp"
#include "support/labels.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

using namespace ldm;
using Catch::Matchers::Contains;
using ldm_test::ints;

TEST_CASE("Denoiser: parameter names, order and shapes follow the seed") {
  const Denoiser<float> den(3, 8, 2, 100, make_key(0));
  std::vector<std::string> names;
  std::vector<Eigen::Index> sizes;
  den.visit([&](const std::string& name, const auto& p) {
    names.push_back(name);
    sizes.push_back(p.size());
  });
  REQUIRE(names == std::vector<std::string>{
                       "time_mlp_1.weight", "time_mlp_1.bias", "z_proj.weight", "z_proj.bias",
                       "denoiser_block_1_norm.weight", "denoiser_block_1_norm.bias", "denoiser_block_1_up.weight",
                       "denoiser_block_1_up.bias", "denoiser_block_1_down.weight", "denoiser_block_1_down.bias",
                       "denoiser_block_2_norm.weight", "denoiser_block_2_norm.bias", "denoiser_block_2_up.weight",
                       "denoiser_block_2_up.bias", "denoiser_block_2_down.weight", "denoiser_block_2_down.bias",
                       "noise_pred.weight", "noise_pred.bias"});
  REQUIRE(den.blocks[0].up.weight.rows() == 32);  // [4 hidden, hidden]
  REQUIRE(den.blocks[0].up.weight.cols() == 8);
  REQUIRE(den.blocks[1].norm.weight == Vector<float>::Ones(8));
  REQUIRE(den.blocks[1].norm.bias == Vector<float>::Zero(8));
  REQUIRE(count_parameters(den) == (8 * 8 + 8) + (3 * 8 + 8) + 2 * (16 + 8 * 32 + 32 + 32 * 8 + 8) + (8 * 3 + 3));
}

namespace {

// The seed's forward pass written out plainly, to compare against.
Matrix<double> reference_forward(const Denoiser<double>& den, const Matrix<double>& z, const Eigen::VectorXi& t) {
  const auto silu = [](const Matrix<double>& a) { return Matrix<double>(a.array() / (1 + (-a.array()).exp())); };
  const auto dense = [](const Dense<double>& d, const Matrix<double>& in) {
    return Matrix<double>((in * d.weight.transpose()).rowwise() + d.bias.transpose());
  };
  const Eigen::Index hidden = den.hidden_size(), half = hidden / 2;
  Matrix<double> emb(t.size(), hidden);
  for (Eigen::Index b = 0; b < t.size(); ++b)
    for (Eigen::Index i = 0; i < half; ++i) {
      const double f = std::exp(-std::log(10000.0) * double(i) / double(std::max<Eigen::Index>(half - 1, 1)));
      emb(b, i) = std::sin(double(t(b)) / den.num_steps * f);
      emb(b, half + i) = std::cos(double(t(b)) / den.num_steps * f);
    }
  Matrix<double> x = dense(den.z_proj, z) + silu(dense(den.time_mlp_1, emb));
  for (const auto& block : den.blocks) {
    Matrix<double> n(x.rows(), x.cols());
    for (Eigen::Index r = 0; r < x.rows(); ++r) {
      const double m = x.row(r).mean();
      const double var = (x.row(r).array() - m).square().mean();
      n.row(r) = ((x.row(r).array() - m) / std::sqrt(var + 1e-5) * block.norm.weight.transpose().array() +
                  block.norm.bias.transpose().array())
                     .matrix();
    }
    x += dense(block.down, silu(dense(block.up, n)));
  }
  return dense(den.noise_pred, x);
}

}  // namespace

TEST_CASE("Denoiser: forward is the seed's residual MLP") {
  Denoiser<double> den(3, 8, 2, 100, make_key(1));
  ldm_test::randomize(den, make_key(2));
  const Matrix<double> z = normal<double>(make_key(3), 4, 3).values;
  Eigen::VectorXi t(4);
  t << 0, 17, 50, 99;
  REQUIRE((den(z, t) - reference_forward(den, z, t)).norm() < 1e-12);
}

TEST_CASE("Denoiser: the time embedding changes the prediction, raw and normalised differ") {
  Denoiser<double> den(3, 8, 1, 1000, make_key(4));
  Denoiser<double> raw(3, 8, 1, 1000, make_key(4), TimeEmbedding::raw);
  const Matrix<double> z = Matrix<double>::Zero(2, 3);
  Eigen::VectorXi t(2);
  t << 10, 11;
  const Matrix<double> a = den(z, t), b = raw(z, t);
  REQUIRE((a.row(0) - a.row(1)).norm() > 0);
  REQUIRE((a - b).norm() > 1e-3);
  t << 0, 0;
  REQUIRE((den(z, t) - raw(z, t)).norm() == 0);  // at t = 0 both embeddings are [0.., 1..]
}

TEST_CASE("Denoiser: backward matches finite differences for z_t and every parameter") {
  Denoiser<double> den(3, 6, 2, 50, make_key(5));
  ldm_test::randomize(den, make_key(6));
  Matrix<double> z = normal<double>(make_key(7), 4, 3).values;
  Eigen::VectorXi t(4);
  t << 0, 13, 27, 49;
  const Matrix<double> r = normal<double>(make_key(8), 4, 3).values;
  const auto loss = [&] { return (den(z, t).array() * r.array()).sum(); };
  DenoiserWorkspace<double> ws;
  den.forward(z, t, ws);
  Denoiser<double> grad = zeros_like(den);
  const Matrix<double> dz = den.backward(z, ws, r, grad);
  std::string worst;
  const double error = ldm_test::max_parameter_error(den, grad, loss, &worst);
  INFO("worst parameter: " << worst);
  REQUIRE(error < 1e-6);
  REQUIRE(ldm_test::relative_error(dz, ldm_test::numeric_gradient(z, loss)) < 1e-6);
}

TEST_CASE("Denoiser: backward after a forward whose rows share one t matches finite differences") {
  // Every row at t = 13 takes the sampling path of the time embedding (one row, computed once);
  // backward must still see the full embedding and time_mlp_1 activations.
  Denoiser<double> den(3, 6, 2, 50, make_key(5));
  ldm_test::randomize(den, make_key(6));
  Matrix<double> z = normal<double>(make_key(7), 4, 3).values;
  const Eigen::VectorXi t = Eigen::VectorXi::Constant(4, 13);
  const Matrix<double> r = normal<double>(make_key(8), 4, 3).values;
  const auto loss = [&] { return (den(z, t).array() * r.array()).sum(); };
  DenoiserWorkspace<double> ws;
  den.forward(z, t, ws);
  REQUIRE(ws.time_rows_pending);
  Denoiser<double> grad = zeros_like(den);
  const Matrix<double> dz = den.backward(z, ws, r, grad);
  REQUIRE_FALSE(ws.time_rows_pending);
  REQUIRE(ws.emb.rows() == 4);
  std::string worst;
  const double error = ldm_test::max_parameter_error(den, grad, loss, &worst);
  INFO("worst parameter: " << worst);
  REQUIRE(error < 1e-6);
  REQUIRE(ldm_test::relative_error(dz, ldm_test::numeric_gradient(z, loss)) < 1e-6);
  // The same workspace then serves a batch with different t.
  Eigen::VectorXi mixed(4);
  mixed << 0, 13, 27, 49;
  den.forward(z, mixed, ws);
  REQUIRE_FALSE(ws.time_rows_pending);
  REQUIRE(ws.out == den(z, mixed));
}

TEST_CASE("Denoiser: a workspace can be reused across batch sizes") {
  const Denoiser<float> den(2, 4, 1, 10, make_key(9));
  DenoiserWorkspace<float> ws;
  Eigen::VectorXi t3(3), t1(1);
  t3 << 1, 2, 3;
  t1 << 5;
  const Matrix<float> z3 = normal<float>(make_key(1), 3, 2).values;
  den.forward(z3, t3, ws);
  den.forward(z3.topRows(1), t1, ws);
  REQUIRE(ws.out.rows() == 1);
  REQUIRE(ws.out == den(z3.topRows(1), t1));
}

TEST_CASE("Denoiser: forward with packed weights gives the same bits on 1 to 300 rows and 1-2 threads") {
  const Denoiser<float> den(16, 64, 2, 1000, make_key(9));
  for (const int threads : {1, 2}) {
    set_num_threads(threads);
    detail::PackedWeights<float> packs;
    DenoiserWorkspace<float> plain, packed;
    packed.weight_packs = &packs;
    for (const Eigen::Index rows : {1, 3, 16, 300}) {  // 300 on 2 threads: a row slice each
      INFO("threads " << threads << ", rows " << rows);
      const Matrix<float> z = normal<float>(make_key(static_cast<std::uint32_t>(rows)), rows, 16).values;
      for (const bool shared_t : {true, false}) {
        Eigen::VectorXi t = Eigen::VectorXi::Constant(rows, 981);
        if (!shared_t) t = Eigen::VectorXi::LinSpaced(rows, 0, 999);
        den.forward(z, t, plain);
        den.forward(z, t, packed);
        REQUIRE(packed.out == plain.out);
        den.forward(z, t, packed);  // the second call reads the packs
        REQUIRE(packed.out == plain.out);
      }
    }
#ifndef EIGEN_USE_BLAS
    CHECK(packs.entries() >= 5);  // time_mlp_1, z_proj, up and down of each block, noise_pred
#endif
  }
  set_num_threads(0);
}

TEST_CASE("Denoiser: bad input throws a message naming the problem") {
  const Denoiser<float> den(2, 4, 1, 10, make_key(0));
  Eigen::VectorXi t(2);
  t << 0, 10;
  const Matrix<float> z = Matrix<float>::Zero(2, 2);
  REQUIRE_THROWS_WITH(den(z, t), Contains("t(1) = 10") && Contains("[0, 10)"));
  t << -1, 0;
  REQUIRE_THROWS_WITH(den(z, t), Contains("t(0) = -1"));
  Eigen::VectorXi t3(3);
  t3 << 0, 1, 2;
  REQUIRE_THROWS_WITH(den(z, t3), Contains("t has 3 timesteps but z_t has 2 rows"));
  t << 0, 1;
  REQUIRE_THROWS_WITH(den(Matrix<float>::Zero(2, 3), t), Contains("z_t must have 2 columns"));
  Matrix<float> bad = z;
  bad(1, 1) = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_WITH(den(bad, t), Contains("non-finite"));
  REQUIRE_THROWS_WITH(Denoiser<float>(2, 5, 1, 10, make_key(0)), Contains("hidden_size must be even"));
  REQUIRE_THROWS_WITH(Denoiser<float>(2, 4, 1, 0, make_key(0)), Contains("num_steps must be positive"));
}

// ---------------------------------------------------------------------------------------------
// The conditional denoiser: the label embedding.

namespace {

std::vector<std::string> names_of(const Denoiser<float>& den) {
  std::vector<std::string> names;
  den.visit([&](const std::string& name, const auto&) { names.push_back(name); });
  return names;
}

}  // namespace

TEST_CASE("conditional denoiser: label_embed is the one new parameter, the others start bit for bit as before") {
  const Options plain{.input_size = 5, .latent_size = 3, .hidden_size = 8, .num_layers = 2, .num_steps = 50};
  Options conditional = plain;
  conditional.num_classes = 3;
  const auto [e0, d0, n0] = build<float>(plain, make_key(4));
  const auto models1 = build<float>(conditional, make_key(4));
  const auto& [e1, d1, unused] = models1;
  const Denoiser<float>& n1 = std::get<2>(models1);  // a reference, not a binding: a lambda captures it
  REQUIRE(n0.num_classes() == 0);
  REQUIRE(n1.num_classes() == 3);
  REQUIRE(n1.no_label() == 3);
  REQUIRE(n1.label_embed.rows() == 4);  // [num_classes + 1, hidden]
  REQUIRE(n1.label_embed.cols() == 8);
  std::vector<std::string> expected = names_of(n0);
  REQUIRE(std::find(expected.begin(), expected.end(), "label_embed.weight") == expected.end());
  expected.insert(expected.begin() + 2, "label_embed.weight");  // after time_mlp_1
  REQUIRE(names_of(n1) == expected);
  bool same = true;
  n0.visit([&](const std::string& name, const auto& p) {
    n1.visit([&](const std::string& other, const auto& q) {
      if (name == other) same = same && p.rows() == q.rows() && p.cols() == q.cols() && p == q;
    });
  });
  REQUIRE(same);
  visit_together([&](const std::string&, const auto& a, const auto& b) { same = same && a == b; }, e0, e1);
  visit_together([&](const std::string&, const auto& a, const auto& b) { same = same && a == b; }, d0, d1);
  REQUIRE(same);
}

TEST_CASE("label_embed starts as N(0, 1) draws, like nn.Embedding") {
  const Denoiser<double> den(2, 64, 0, 10, make_key(7), TimeEmbedding::normalized, 99);
  const auto values = den.label_embed.array();
  const double n = static_cast<double>(values.size());  // 6400
  const double mean = values.mean();
  const double var = (values - mean).square().sum() / (n - 1);
  INFO("mean " << mean << ", variance " << var);
  REQUIRE(std::abs(mean) < 5 / std::sqrt(n));         // 5 standard errors
  REQUIRE(std::abs(var - 1) < 5 * std::sqrt(2 / n));  // the variance's standard error is sqrt(2 / n)
}

TEST_CASE("conditional forward: the label's row is added to the time embedding before time_mlp_1") {
  // time_mlp_1(emb + l) = W emb + (b + W l): an unconditional copy with its bias moved by W l
  // must give the same prediction as the conditional model with label l.
  Denoiser<double> den(3, 8, 2, 100, make_key(1), TimeEmbedding::normalized, 2);
  ldm_test::randomize(den, make_key(2));
  const Matrix<double> z = normal<double>(make_key(3), 4, 3).values;
  const Eigen::VectorXi t = ints({0, 17, 50, 99});
  for (int label = 0; label <= 2; ++label) {
    Denoiser<double> shifted = den;
    shifted.label_embed.resize(0, 0);
    REQUIRE(shifted.num_classes() == 0);
    shifted.time_mlp_1.bias += den.time_mlp_1.weight * den.label_embed.row(label).transpose();
    INFO("label " << label);
    REQUIRE((den(z, t, Eigen::VectorXi::Constant(4, label)) - shifted(z, t)).norm() < 1e-12);
  }
  // Without labels a conditional model predicts with the "no label" token, bit for bit.
  REQUIRE(den(z, t) == den(z, t, Eigen::VectorXi::Constant(4, 2)));
  // Labels do change the prediction.
  REQUIRE((den(z, t, ints({0, 0, 0, 0})) - den(z, t, ints({1, 1, 1, 1}))).norm() > 1e-3);
}

TEST_CASE("conditional forward: one timestep for the whole batch gives what row-by-row calls give") {
  // A sampling step (one t, many rows, few labels) runs time_mlp_1 once per label: same values.
  Denoiser<double> den(3, 8, 1, 100, make_key(11), TimeEmbedding::raw, 2);
  ldm_test::randomize(den, make_key(12));
  const Matrix<double> z = normal<double>(make_key(13), 7, 3).values;
  const Eigen::VectorXi labels = ints({0, 2, 1, 1, 0, 2, 2});
  const Eigen::VectorXi t = Eigen::VectorXi::Constant(7, 42);
  const Matrix<double> batch = den(z, t, labels);
  for (Eigen::Index r = 0; r < 7; ++r) {
    const Matrix<double> one = den(z.row(r), t.segment(r, 1), labels.segment(r, 1));
    REQUIRE((batch.row(r) - one).norm() < 1e-12);
  }
}

TEST_CASE("conditional backward matches finite differences for z_t and every parameter, label_embed included") {
  Denoiser<double> den(3, 6, 2, 50, make_key(5), TimeEmbedding::normalized, 3);
  ldm_test::randomize(den, make_key(6));
  const Matrix<double> r = normal<double>(make_key(8), 6, 3).values;
  // Mixed timesteps, then one timestep for all rows (the per-label time path), each with labels
  // that leave class 1 out: its row of the gradient must stay exactly 0.
  for (const Eigen::VectorXi& t : {ints({0, 13, 27, 49, 5, 5}), Eigen::VectorXi(Eigen::VectorXi::Constant(6, 31))}) {
    Matrix<double> z = normal<double>(make_key(7), 6, 3).values;
    const Eigen::VectorXi labels = ints({0, 3, 2, 0, 3, 2});
    const auto loss = [&] { return (den(z, t, labels).array() * r.array()).sum(); };
    DenoiserWorkspace<double> ws;
    den.forward(z, t, labels, ws);
    Denoiser<double> grad = zeros_like(den);
    const Matrix<double> dz = den.backward(z, ws, r, grad);
    std::string worst;
    const double error = ldm_test::max_parameter_error(den, grad, loss, &worst);
    INFO("t(0) " << t(0) << ", worst parameter: " << worst);
    REQUIRE(error < 1e-6);
    REQUIRE(ldm_test::relative_error(dz, ldm_test::numeric_gradient(z, loss)) < 1e-6);
    REQUIRE(grad.label_embed.row(1).norm() == 0);
    REQUIRE(grad.label_embed.row(3).norm() > 0);
  }
}

TEST_CASE("conditional denoiser input: labels and models must go together, checked with clear messages") {
  const Matrix<float> z = Matrix<float>::Zero(2, 2);
  const Eigen::VectorXi t = ints({0, 1});
  const Denoiser<float> plain_f(2, 4, 1, 10, make_key(0));
  REQUIRE_THROWS_WITH(plain_f(z, t, ints({0, 0})), Contains("labels were given but the model is unconditional"));
  const Denoiser<float> cond(2, 4, 1, 10, make_key(0), TimeEmbedding::normalized, 3);
  REQUIRE_THROWS_WITH(cond(z, t, ints({0})), Contains("labels has 1 entries but z_t has 2 rows"));
  REQUIRE_THROWS_WITH(cond(z, t, ints({0, 4})), Contains("labels(1) = 4 is outside [0, 3] (3 = no label)"));
  REQUIRE_THROWS_WITH(cond(z, t, ints({-1, 0})), Contains("labels(0) = -1"));
  DenoiserWorkspace<float> ws;
  REQUIRE_THROWS_WITH(cond.forward(z, t, ints({0, 9}), ws), Contains("labels(1) = 9"));
}
