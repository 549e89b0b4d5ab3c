#include <catch2/catch.hpp>

#include <ldm/nn/layers.hpp>

#include "support/gradcheck.hpp"

using namespace ldm;
using Catch::Matchers::Contains;

TEST_CASE("Dense forward computes x W^T + b") {
  Dense<double> d("d", 3, 2);
  d.weight << 1, 2, 3, -1, 0, 1;
  d.bias << 0.5, -2;
  Matrix<double> x(2, 3), y;
  x << 1, 1, 1, 2, 0, -1;
  d.forward(x, y);
  REQUIRE(y(0, 0) == 6.5);   // 1 + 2 + 3 + 0.5
  REQUIRE(y(0, 1) == -2);    // -1 + 0 + 1 - 2
  REQUIRE(y(1, 0) == -0.5);  // 2 - 3 + 0.5
  REQUIRE(y(1, 1) == -5);    // -2 - 1 - 2
}

TEST_CASE("Dense initialisation is PyTorch's uniform(-1/sqrt(in), 1/sqrt(in)), reproducible") {
  Dense<float> a("layer", 16, 300, make_key(7)), b("layer", 16, 300, make_key(7));
  Dense<float> c("layer", 16, 300, make_key(8));
  REQUIRE(a.weight_name == "layer.weight");
  REQUIRE(a.bias_name == "layer.bias");
  REQUIRE(a.weight.rows() == 300);
  REQUIRE(a.weight.cols() == 16);
  REQUIRE(a.weight == b.weight);
  REQUIRE(a.bias == b.bias);
  REQUIRE(a.weight != c.weight);
  REQUIRE(a.weight.cwiseAbs().maxCoeff() <= 0.25f);
  REQUIRE(a.bias.cwiseAbs().maxCoeff() <= 0.25f);
  // 4800 uniforms on [-0.25, 0.25): variance 1/48, the mean's standard error is 0.0021.
  REQUIRE(std::abs(a.weight.mean()) < 0.01);
  REQUIRE(a.weight.array().square().mean() == Approx(1.0 / 48).epsilon(0.05));
  REQUIRE(a.weight.maxCoeff() > 0.24f);
  REQUIRE(a.weight.minCoeff() < -0.24f);
}

TEST_CASE("Dense backward matches finite differences") {
  Dense<double> d("d", 5, 3, make_key(1));
  Matrix<double> x = normal<double>(make_key(2), 4, 5).values;
  const Matrix<double> r = normal<double>(make_key(3), 4, 3).values;  // L = sum(r .* y)
  const auto loss = [&] {
    Matrix<double> y;
    d.forward(x, y);
    return (y.array() * r.array()).sum();
  };
  Dense<double> grad = zeros_like(d);
  d.backward_params(x, r, grad);
  Matrix<double> dx;
  d.backward_input(r, dx);
  REQUIRE(ldm_test::max_parameter_error(d, grad, loss) < 1e-8);
  REQUIRE(ldm_test::relative_error(dx, ldm_test::numeric_gradient(x, loss)) < 1e-8);
  // Backward adds: a second call doubles the gradient; backward_input_add adds dy W.
  d.backward_params(x, r, grad);
  Dense<double> once = zeros_like(d);
  d.backward_params(x, r, once);
  REQUIRE((grad.weight - 2 * once.weight).norm() < 1e-12);
  d.backward_input_add(r, dx);
  Matrix<double> dx_once;
  d.backward_input(r, dx_once);
  REQUIRE((dx - 2 * dx_once).norm() < 1e-12);
}

TEST_CASE("SiLU values and derivative") {
  Matrix<double> x(1, 4), y, dx;
  x << 0, 1, -2, 30;
  silu_forward(x, y);
  REQUIRE(y(0, 0) == 0);
  REQUIRE(y(0, 1) == Approx(0.7310585786300049).epsilon(1e-15));   // 1 / (1 + e^-1)
  REQUIRE(y(0, 2) == Approx(-0.2384058440442351).epsilon(1e-15));  // -2 / (1 + e^2)
  REQUIRE(y(0, 3) == Approx(30.0).epsilon(1e-12));
  Matrix<double> ones = Matrix<double>::Ones(1, 4);
  silu_backward(x, ones, dx);
  REQUIRE(dx(0, 0) == 0.5);
  // SiLU'(1) = s(1)(1 + 1 - s(1)), s(1) = 0.7310585786300049
  REQUIRE(dx(0, 1) == Approx(0.7310585786300049 * (2 - 0.7310585786300049)).epsilon(1e-15));
  Matrix<double> xs = normal<double>(make_key(4), 3, 6).values * 3.0;
  const Matrix<double> r = normal<double>(make_key(5), 3, 6).values;
  const auto loss = [&] {
    Matrix<double> out;
    silu_forward(xs, out);
    return (out.array() * r.array()).sum();
  };
  silu_backward(xs, r, dx);
  REQUIRE(ldm_test::relative_error(dx, ldm_test::numeric_gradient(xs, loss)) < 1e-8);
}

TEST_CASE("LayerNorm normalises each row like PyTorch (biased variance, eps 1e-5)") {
  LayerNorm<double> ln("n", 4);
  REQUIRE(ln.weight == Vector<double>::Ones(4));
  REQUIRE(ln.bias == Vector<double>::Zero(4));
  Matrix<double> x(1, 4), y;
  x << 1, 2, 3, 4;
  Vector<double> mean, rstd;
  ln.forward(x, y, mean, rstd);
  REQUIRE(mean(0) == 2.5);
  REQUIRE(rstd(0) == Approx(1 / std::sqrt(1.25 + 1e-5)).epsilon(1e-14));
  REQUIRE(y(0, 0) == Approx(-1.5 / std::sqrt(1.25 + 1e-5)).epsilon(1e-14));
  ln.weight << 2, 2, 2, 2;
  ln.bias << 1, 1, 1, 1;
  ln.forward(x, y, mean, rstd);
  REQUIRE(y(0, 3) == Approx(1 + 3 / std::sqrt(1.25 + 1e-5)).epsilon(1e-14));
}

TEST_CASE("LayerNorm backward matches finite differences") {
  LayerNorm<double> ln("n", 6);
  ldm_test::randomize(ln, make_key(9));
  Matrix<double> x = normal<double>(make_key(10), 5, 6).values;
  const Matrix<double> r = normal<double>(make_key(11), 5, 6).values;
  const auto loss = [&] {
    Matrix<double> y;
    Vector<double> m, s;
    ln.forward(x, y, m, s);
    return (y.array() * r.array()).sum();
  };
  Matrix<double> y, dx;
  Vector<double> m, s;
  ln.forward(x, y, m, s);
  LayerNorm<double> grad = zeros_like(ln);
  ln.backward(x, m, s, r, grad, dx);
  REQUIRE(ldm_test::max_parameter_error(ln, grad, loss) < 1e-7);
  REQUIRE(ldm_test::relative_error(dx, ldm_test::numeric_gradient(x, loss)) < 1e-7);
}

TEST_CASE("time embedding: sin then cos of t scaled by geometric frequencies") {
  Eigen::VectorXi t(3);
  t << 0, 500, 999;
  Matrix<double> e;
  time_embedding(t, 1000, 8, TimeEmbedding::normalized, e);
  REQUIRE(e.rows() == 3);
  REQUIRE(e.cols() == 8);
  for (int i = 0; i < 4; ++i) {
    REQUIRE(e(0, i) == 0);      // sin 0
    REQUIRE(e(0, 4 + i) == 1);  // cos 0
  }
  // half = 4, f_i = 10000^(-i/3): f_0 = 1, f_3 = 1e-4.
  REQUIRE(e(1, 0) == Approx(std::sin(0.5)).epsilon(1e-15));
  REQUIRE(e(1, 4) == Approx(std::cos(0.5)).epsilon(1e-15));
  REQUIRE(e(2, 1) == Approx(std::sin(0.999 * std::pow(10000.0, -1.0 / 3))).epsilon(1e-14));
  REQUIRE(e(2, 7) == Approx(std::cos(0.999e-4)).epsilon(1e-15));
  time_embedding(t, 1000, 8, TimeEmbedding::raw, e);
  REQUIRE(e(1, 0) == Approx(std::sin(500.0)).epsilon(1e-13));
  REQUIRE(e(2, 3) == Approx(std::sin(999e-4)).epsilon(1e-13));
  // A width of 2 has one frequency, 1 (max(half - 1, 1) avoids dividing by zero).
  time_embedding(t, 1000, 2, TimeEmbedding::normalized, e);
  REQUIRE(e(1, 0) == Approx(std::sin(0.5)).epsilon(1e-15));
  REQUIRE_THROWS_WITH(time_embedding(t, 1000, 7, TimeEmbedding::normalized, e),
                      Contains("dim must be even") && Contains("7"));
}

TEST_CASE("Dense forward_residual adds the residual and forward_silu saves the sigmoid") {
  Dense<double> d("d", 3, 2);
  d.weight << 1, 2, 3, -1, 0, 1;
  d.bias << 0.5, -2;
  Matrix<double> x(2, 3), y, residual(2, 2), sig, act;
  x << 1, 1, 1, 2, 0, -1;
  residual << 10, 20, 30, 40;
  d.forward_residual(x, residual, y);
  REQUIRE(y(0, 0) == 16.5);
  REQUIRE(y(1, 1) == 35);
  REQUIRE_THROWS_WITH(d.forward_residual(x, Matrix<double>(2, 3), y),
                      Contains("residual is 2x3 but the output is 2x2"));
  d.forward_silu(x, sig, act);  // a = [[6.5, -2], [-0.5, -5]]
  REQUIRE(sig(0, 0) == Approx(1 / (1 + std::exp(-6.5))).epsilon(1e-15));
  REQUIRE(sig(1, 1) == Approx(1 / (1 + std::exp(5.0))).epsilon(1e-15));
  REQUIRE(act(0, 1) == Approx(-2 / (1 + std::exp(2.0))).epsilon(1e-15));
  REQUIRE(act(1, 0) == Approx(-0.5 / (1 + std::exp(0.5))).epsilon(1e-15));
}

TEST_CASE("Dense forward_silu and backward_input_silu match finite differences") {
  // L = sum(r .* second(SiLU(first(x)))): backward_input_silu of the second layer gives dL/da of
  // the first, silu_backward_saved the same from dL/dSiLU.
  Dense<double> first("a", 5, 7, make_key(1)), second("b", 7, 3, make_key(2));
  Matrix<double> x = normal<double>(make_key(3), 4, 5).values * 2.0;
  const Matrix<double> r = normal<double>(make_key(4), 4, 3).values;
  const auto loss = [&] {
    Matrix<double> sig, h, y;
    first.forward_silu(x, sig, h);
    second.forward(h, y);
    return (y.array() * r.array()).sum();
  };
  Matrix<double> sig, h, da, dh, da_saved, dx;
  first.forward_silu(x, sig, h);
  second.backward_input_silu(r, sig, h, da);
  Dense<double> grad = zeros_like(first);
  first.backward_params(x, da, grad);
  first.backward_input(da, dx);
  REQUIRE(ldm_test::max_parameter_error(first, grad, loss) < 1e-8);
  REQUIRE(ldm_test::relative_error(dx, ldm_test::numeric_gradient(x, loss)) < 1e-8);
  second.backward_input(r, dh);
  silu_backward_saved(sig, h, dh, da_saved);
  REQUIRE((da_saved - da).cwiseAbs().maxCoeff() < 1e-14);
  // The same as silu_backward from the pre-activation.
  Matrix<double> a, da_plain;
  first.forward(x, a);
  silu_backward(a, dh, da_plain);
  REQUIRE((da_plain - da).cwiseAbs().maxCoeff() < 1e-14);
  REQUIRE_THROWS_WITH(second.backward_input_silu(r, sig, Matrix<double>(4, 6), da), Contains("sig") && Contains("4x7"));
  REQUIRE_THROWS_WITH(second.backward_input_silu(r, Matrix<double>(3, 7), Matrix<double>(3, 7), da),
                      Contains("input gradient"));
  REQUIRE_THROWS_WITH(silu_backward_saved(sig, h, Matrix<double>(4, 2), da), Contains("dy") && Contains("4x2"));
}

TEST_CASE("LayerNorm backward_add adds the input gradient and the same parameter gradients") {
  LayerNorm<double> ln("n", 6);
  ldm_test::randomize(ln, make_key(9));
  const Matrix<double> x = normal<double>(make_key(10), 5, 6).values;
  const Matrix<double> r = normal<double>(make_key(11), 5, 6).values;
  Matrix<double> y, dx;
  Vector<double> m, s;
  ln.forward(x, y, m, s);
  LayerNorm<double> grad = zeros_like(ln), grad_add = zeros_like(ln);
  ln.backward(x, m, s, r, grad, dx);
  const Matrix<double> start = normal<double>(make_key(12), 5, 6).values;
  Matrix<double> sum = start;
  ln.backward_add(x, m, s, r, grad_add, sum);
  REQUIRE((sum - start - dx).cwiseAbs().maxCoeff() < 1e-14);
  REQUIRE(grad_add.weight == grad.weight);
  REQUIRE(grad_add.bias == grad.bias);
  Matrix<double> wrong(5, 5);
  REQUIRE_THROWS_WITH(ln.backward_add(x, m, s, r, grad_add, wrong), Contains("dx") && Contains("5x5"));
}

TEST_CASE("layer passes give the same bits for 1, 2 and 3 threads", "[threads]") {
  Dense<float> up("u", 64, 256, make_key(1)), down("d", 256, 64, make_key(2));
  LayerNorm<float> ln("n", 64);
  ldm_test::randomize(ln, make_key(3));
  const Matrix<float> x = normal<float>(make_key(4), 1200, 64).values;  // enough rows for 3 slices
  const Matrix<float> r = normal<float>(make_key(5), 1200, 64).values;
  struct Out {
    Matrix<float> n, sig, h, y, da, dx;
    Vector<float> mean, rstd;
    Dense<float> gu, gd;
    LayerNorm<float> gn;
  };
  const auto run = [&](int threads) {
    set_num_threads(threads);
    Out o;
    o.gu = zeros_like(up);
    o.gd = zeros_like(down);
    o.gn = zeros_like(ln);
    ln.forward(x, o.n, o.mean, o.rstd);
    up.forward_silu(o.n, o.sig, o.h);
    down.forward_residual(o.h, x, o.y);
    down.backward_params(o.h, r, o.gd);
    down.backward_input_silu(r, o.sig, o.h, o.da);
    up.backward_params(o.n, o.da, o.gu);
    up.backward_input(o.da, o.dx);
    ln.backward_add(x, o.mean, o.rstd, r, o.gn, o.dx);  // the norm's gradients from r: exact
    set_num_threads(0);
    return o;
  };
  const Out one = run(1);
  for (int threads : {2, 3}) {
    INFO("threads " << threads);
    const Out more = run(threads);
    // Elementwise results and the bias and LayerNorm sums are exact; products are too with ldm's
    // own kernel (one fma chain per entry), and agree to rounding with Eigen's.
    REQUIRE(more.n == one.n);
    REQUIRE(more.gd.bias == one.gd.bias);
    REQUIRE(more.gn.weight == one.gn.weight);
    REQUIRE(more.gn.bias == one.gn.bias);
    if constexpr (detail::own_kernel<float>) {
      REQUIRE(more.sig == one.sig);
      REQUIRE(more.y == one.y);
      REQUIRE(more.gd.weight == one.gd.weight);
      REQUIRE(more.gu.weight == one.gu.weight);
      REQUIRE(more.dx == one.dx);
    } else {
      REQUIRE((more.sig - one.sig).cwiseAbs().maxCoeff() < 1e-5f);
      REQUIRE((more.gu.weight - one.gu.weight).cwiseAbs().maxCoeff() < 1e-3f);
      REQUIRE((more.dx - one.dx).cwiseAbs().maxCoeff() < 1e-3f);
    }
  }
}

TEST_CASE("Dense, LayerNorm and SiLU passes on row slices give the rows of the whole pass") {
  // Each pass once on every row, then again slice by slice (0-15, 16-39) into outputs the caller
  // sized and filled with 99: each slice writes its rows and nothing else.
  const Dense<double> first("first", 3, 5, make_key(1)), d("d", 5, 7, make_key(2));
  LayerNorm<double> norm("norm", 5);
  norm.weight << 1.5, -0.5, 2, 1, 0.25;
  norm.bias << 0.1, 0.2, -0.3, 0, 1;
  const Matrix<double> x0 = normal<double>(make_key(3), 40, 3).values;
  const Matrix<double> residual = normal<double>(make_key(4), 40, 7).values;
  const Matrix<double> dy = normal<double>(make_key(5), 40, 7).values;
  Matrix<double> sig0, h0;
  first.forward_silu(x0, sig0, h0);  // (40, 5): the input of d and what backward_input_silu needs
  const detail::RowSlice head{0, 16}, tail{16, 24};
  const auto by_slices = [&](Eigen::Index cols, auto&& pass) {
    Matrix<double> out = Matrix<double>::Constant(40, cols, 99.0);
    pass(out, head);
    CHECK(out.bottomRows(24) == Matrix<double>::Constant(24, cols, 99.0));  // only its rows
    pass(out, tail);
    return out;
  };
  const auto same = [](const Matrix<double>& got, const Matrix<double>& want) {
    REQUIRE(got.rows() == want.rows());
    REQUIRE(got.cols() == want.cols());
    CHECK((got - want).cwiseAbs().maxCoeff() < 1e-12);  // products: last bits may differ
  };
  Matrix<double> want, want_sig;
  d.forward(h0, want);
  same(by_slices(7, [&](Matrix<double>& y, detail::RowSlice r) { d.forward(h0, y, r); }), want);
  d.forward_residual(h0, residual, want);
  same(by_slices(7, [&](Matrix<double>& y, detail::RowSlice r) { d.forward_residual(h0, residual, y, r); }), want);
  d.forward_silu(h0, want_sig, want);
  Matrix<double> sig = Matrix<double>::Constant(40, 7, 99.0);
  same(by_slices(7, [&](Matrix<double>& y, detail::RowSlice r) { d.forward_silu(h0, sig, y, r); }), want);
  same(sig, want_sig);
  d.backward_input(dy, want);
  same(by_slices(5, [&](Matrix<double>& dx, detail::RowSlice r) { d.backward_input(dy, dx, r); }), want);
  d.backward_input_silu(dy, sig0, h0, want);
  same(by_slices(5, [&](Matrix<double>& da, detail::RowSlice r) { d.backward_input_silu(dy, sig0, h0, da, r); }), want);
  // backward_input_add adds onto what the rows held: 99 + dy W.
  want = Matrix<double>::Constant(40, 5, 99.0);
  d.backward_input_add(dy, want);
  same(by_slices(5, [&](Matrix<double>& dx, detail::RowSlice r) { d.backward_input_add(dy, dx, r); }), want);
  // Elementwise passes: the same bits.
  silu_backward_saved(sig0, h0, dy.leftCols(5).eval(), want);
  const Matrix<double> dy5 = dy.leftCols(5);
  REQUIRE(by_slices(5, [&](Matrix<double>& dx, detail::RowSlice r) { silu_backward_saved(sig0, h0, dy5, dx, r); }) ==
          want);
  Vector<double> mean, rstd, mean_s = Vector<double>::Zero(40), rstd_s = Vector<double>::Zero(40);
  norm.forward(h0, want, mean, rstd);
  REQUIRE(by_slices(5, [&](Matrix<double>& y, detail::RowSlice r) { norm.forward(h0, y, mean_s, rstd_s, r); }) == want);
  REQUIRE(mean_s == mean);
  REQUIRE(rstd_s == rstd);
}
