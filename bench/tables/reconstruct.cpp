// Which stage of a table model loses the rows (README, "Real tables against sequential CART"):
// passes real rows through the VAE alone — encoder mean (or, with --posterior, a draw
// z = mu + sigma eps), decoder, the table's decoding — and writes them in the table's schema, to
// be scored like samples. Reconstructions as easy to tell apart as samples: the VAE is the bound;
// reconstructions close to the rows: the denoiser is.
// Usage: ldm_reconstruct MODEL.safetensors ROWS.csv OUT.csv [--posterior]
#include <ldm/ldm.hpp>

#include <cstdio>
#include <exception>
#include <string>

int main(int argc, char** argv) try {
  const bool posterior = argc == 5 && std::string(argv[4]) == "--posterior";
  if (argc != 4 && !posterior) {
    std::fprintf(stderr, "usage: ldm_reconstruct MODEL.safetensors ROWS.csv OUT.csv [--posterior]\n");
    return 2;
  }
  const auto model = ldm::TableDiffusion<float>::load(argv[1]);
  const ldm::Matrix<float> rows = model.encoding.encode(ldm::read_table(argv[2], model.encoding.schema()));
  ldm::Matrix<float> x_hat;
  if (posterior) {
    const auto& m = model.model;
    const auto out = m.encoder(m.data_scaling.transform(rows));
    x_hat = m.data_scaling.inverse(m.decoder(ldm::reparameterize(out.mu, out.log_var, ldm::make_key(1)).values));
  } else {
    x_hat = model.model.reconstruct(rows);
  }
  ldm::write_table(argv[3], model.encoding.decode(x_hat, ldm::make_key(0)).table);
} catch (const std::exception& e) {
  std::fprintf(stderr, "ldm_reconstruct: error: %s\n", e.what());
  return 1;
}
