// A mixed table end to end (DESIGN.md, "Tables: column types and the mixed VAE"): the table's
// encoding (data/encoding.hpp: numeric columns transformed, a missing indicator per column with
// missing cells, categories one-hot) and a LatentDiffusion over the encoded rows whose VAE learns
// them with the mixed reconstruction loss (train/reconstruction.hpp). Sampling runs the model,
// then draws each categorical and missing cell from the decoder's heads, so the rows come back
// in the table's schema. The denoiser and samplers are unchanged.
//
// A table of numeric columns without missing cells needs none of this: LatentDiffusion on its
// cells is the seed's model, and its files stay as they were (the ldm command takes that path).
#pragma once

#include <ldm/data/encoding.hpp>
#include <ldm/data/table.hpp>
#include <ldm/io/model_tensors.hpp>
#include <ldm/pipeline/fit_run.hpp>
#include <ldm/pipeline/latent_diffusion.hpp>

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ldm {

template <class S = float>
struct TableDiffusion {
  TableEncoding<S> encoding;  // the table's schema and how a row becomes the model's vector
  LatentDiffusion<S> model;   // on the encoded rows (its data scaling is the identity)

  // A run over the table (see FitRun; labels, if any, one per row, make it conditional): the
  // caller runs it (with progress, checkpoints, resume) and then takes model() from it.
  struct Run {
    TableEncoding<S> encoding;
    Matrix<S> rows;  // the encoded table; the run holds a reference to it
    std::optional<FitRun<S>> fit;
  };

  // Fits the encoding and prepares the run; run->fit is ready for run() or resume().
  static std::unique_ptr<Run> start(const Table& table, const std::vector<std::string>& labels,
                                    const FitOptions& options, Key key, const EncodingOptions& encoding_options = {}) {
    auto run = std::make_unique<Run>();
    run->encoding = TableEncoding<S>::fit(table, encoding_options);
    run->rows = run->encoding.encode(table);
    run->fit.emplace(run->rows, labels, options, key);
    run->fit->set_layout(run->encoding.layout());
    return run;
  }

  // Trains on the table in one go (no checkpoints); labels as in start(). The defaults measured
  // on real tables are table_fit_options(table.rows(), the encoded width) (pipeline/options.hpp).
  static TableDiffusion fit(const Table& table, const FitOptions& options, Key key,
                            const ProgressCallback& progress = {}, const std::vector<std::string>& labels = {},
                            const EncodingOptions& encoding_options = {}) {
    const auto run = start(table, labels, options, key, encoding_options);
    run->fit->run(progress);
    return {run->encoding, run->fit->model()};
  }

  // n rows in the table's schema, and the next key. Categories are drawn from
  // softmax(logits / temperature) (0: the most likely), missing cells from their probability;
  // with sample_options.postprocess integers are rounded, numbers rounded to the column's
  // decimals and clipped to its training range.
  DecodedTable sample(Eigen::Index n, const SampleOptions& sample_options, Key key, double temperature = 1.0) const {
    const auto [x_hat, next] = model.sample(n, raw(sample_options), key);
    return encoding.decode(x_hat, next, temperature, sample_options.postprocess);
  }

  // n rows of class `label` (a conditional model), with classifier-free guidance.
  DecodedTable sample(Eigen::Index n, const std::string& label, const SampleOptions& sample_options, Key key,
                      double temperature = 1.0) const {
    const auto [x_hat, next] = model.sample(n, label, raw(sample_options), key);
    return encoding.decode(x_hat, next, temperature, sample_options.postprocess);
  }

  // n_per_class rows of every class, class by class (see LatentDiffusion::sample_per_class).
  DecodedTable sample_per_class(Eigen::Index n_per_class, const SampleOptions& sample_options, Key key,
                                double temperature = 1.0) const {
    const auto [x_hat, next] = model.sample_per_class(n_per_class, raw(sample_options), key);
    return encoding.decode(x_hat, next, temperature, sample_options.postprocess);
  }

  // One safetensors file: the model's, plus the encoding's tensors ("encoding.") and its schema
  // and options (metadata "encoding", JSON). Atomic, as LatentDiffusion::save.
  // more_metadata is saved with it (a caller's own keys).
  void save(const std::string& path, MetadataMap more_metadata = {}) const {
    TensorMap tensors;
    add_tensors(tensors, "encoding.", encoding);
    if (!more_metadata.emplace("encoding", nlohmann::json(encoding).dump()).second)
      throw std::invalid_argument("TableDiffusion::save: metadata 'encoding' is the table model's own");
    model.save(path, std::move(tensors), more_metadata);
  }

  // Whether a file read from disk is a table model's (has the "encoding" metadata).
  static bool holds_table(const SafetensorsData& data) { return data.metadata.count("encoding") > 0; }

  // Reads a file written by save(). Throws FormatError naming the file and what is wrong.
  static TableDiffusion load(const SafetensorsData& data, const CheckpointLimits& limits = {}) {
    const char* where = "TableDiffusion::load";
    if (!holds_table(data))
      throw FormatError(where, data.path, "", "not a table model (its metadata has no 'encoding')");
    TableDiffusion t{TableEncoding<S>{}, LatentDiffusion<S>::load(data, limits)};
    try {
      t.encoding = nlohmann::json::parse(data.metadata.at("encoding")).get<TableEncoding<S>>();
    } catch (const std::exception& e) {
      throw FormatError(where, data.path, "", std::string("metadata 'encoding' is not a table encoding: ") + e.what());
    }
    t.encoding = detail::loaded_copy(data, "encoding.", t.encoding, ShapePolicy::from_file, where);
    if (t.encoding.width() != t.model.options.input_size)
      throw FormatError(where, data.path, "",
                        detail::concat("the encoding is ", t.encoding.width(), " wide but the model's input is ",
                                       t.model.options.input_size));
    return t;
  }
  static TableDiffusion load(const std::string& path, const CheckpointLimits& limits = {}) {
    return load(read_safetensors(path, limits.file), limits);
  }

 private:
  // The model's own postprocessing is for numeric rows; here the decoder's raw heads go to decode.
  static SampleOptions raw(SampleOptions o) {
    o.postprocess = false;
    return o;
  }
};

}  // namespace ldm
