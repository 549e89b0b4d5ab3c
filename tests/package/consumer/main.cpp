// A user's program: builds the three models through the installed (or added) package.
#include <ldm/ldm.hpp>

#include <iostream>

int main() {
  const ldm::Options options{.input_size = 12, .latent_size = 4, .hidden_size = 16, .num_layers = 2, .num_steps = 100};
  auto [encoder, decoder, denoiser] = ldm::build<float>(options, ldm::make_key(0));
  const std::size_t counted =
      ldm::count_parameters(encoder) + ldm::count_parameters(decoder) + ldm::count_parameters(denoiser);
  const auto [x, key] = ldm::normal<float>(ldm::make_key(1), 3, 12);
  const auto [mu, log_var] = encoder(x);
  Eigen::VectorXi t = Eigen::VectorXi::Constant(3, 50);
  const ldm::Matrix<float> eps_hat = denoiser(mu, t);
  const ldm::Matrix<float> x_hat = decoder(mu);
  std::cout << "parameters: " << ldm::param_count(options) << " (visited " << counted << ")\n";
  const bool ok = counted == ldm::param_count(options) && eps_hat.rows() == 3 && eps_hat.cols() == 4 &&
                  x_hat.cols() == 12 && eps_hat.allFinite();
  return ok ? 0 : 1;
}
