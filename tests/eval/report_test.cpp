// Tests of ldm/eval/report.hpp (and its detail/html.hpp, detail/svg.hpp).

#include <ldm/eval/report.hpp>

#include <ldm/core/random.hpp>
#include <ldm/eval/table_metrics.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "support/mixed_tables.hpp"
#include "support/test_files.hpp"

using Catch::Matchers::Contains;
using ldm::Matrix;
using namespace ldm_test;  // the shared test helpers

namespace {

// A small XML well-formedness check: every tag closed in order (or self-closed), attribute
// values quoted, '<' never in text, '&' only as an entity. Returns "" or the first problem.
std::string xml_problem(const std::string& s) {
  std::vector<std::string> open;
  std::size_t i = 0;
  const auto entity_ok = [&](std::size_t at) {
    const std::size_t end = s.find(';', at);
    if (end == std::string::npos || end - at > 8) return false;
    const std::string name = s.substr(at + 1, end - at - 1);
    if (name == "amp" || name == "lt" || name == "gt" || name == "quot" || name == "apos") return true;
    return name.size() > 1 && name[0] == '#' && name.find_first_not_of("0123456789", 1) == std::string::npos;
  };
  while (i < s.size()) {
    if (s[i] == '&') {
      if (!entity_ok(i)) return "bare & at " + std::to_string(i);
      ++i;
      continue;
    }
    if (s[i] != '<') {
      ++i;
      continue;
    }
    if (s.compare(i, 4, "<!--") == 0) {
      i = s.find("-->", i);
      if (i == std::string::npos) return "unclosed comment";
      i += 3;
      continue;
    }
    if (s.compare(i, 2, "<!") == 0) {
      i = s.find('>', i) + 1;
      continue;
    }
    const bool closing = s[i + 1] == '/';
    std::size_t j = i + (closing ? 2 : 1);
    const std::size_t name_start = j;
    while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '-' || s[j] == ':')) ++j;
    const std::string name = s.substr(name_start, j - name_start);
    if (name.empty()) return "'<' in text at " + std::to_string(i);
    char quote = 0;  // the tag ends at the first '>' outside quotes
    for (; j < s.size(); ++j) {
      if (quote) {
        if (s[j] == quote) quote = 0;
        if (s[j] == '<') return "'<' in an attribute of <" + name + ">";
        if (s[j] == '&' && !entity_ok(j)) return "bare & in an attribute of <" + name + ">";
      } else if (s[j] == '"' || s[j] == '\'') {
        quote = s[j];
      } else if (s[j] == '>') {
        break;
      }
    }
    if (j >= s.size()) return "unclosed tag <" + name;
    if (closing) {
      if (open.empty() || open.back() != name)
        return "</" + name + "> closes <" + (open.empty() ? std::string("nothing") : open.back()) + ">";
      open.pop_back();
    } else if (s[j - 1] != '/') {
      open.push_back(name);
    }
    i = j + 1;
  }
  return open.empty() ? "" : "<" + open.back() + "> is never closed";
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

const std::vector<ldm::Column> columns{numeric_column("x", true), categorical_column("c", {"a", "b", "c"}),
                                       numeric_column("n", false, ldm::ColumnType::integer)};

// n rows: x normal (every 7th missing), c from the sign of x plus noise, n = 0..4 from x.
ldm::Table rows(std::uint64_t seed, Eigen::Index n, double shift = 0) {
  const Matrix<double> z = ldm::normal<double>(ldm::make_key(seed), n, 3).values;
  Matrix<double> cells(n, 3);
  for (Eigen::Index r = 0; r < n; ++r) {
    const double s = z(r, 0) + 0.5 * z(r, 1) + shift;
    cells(r, 0) = r % 7 == 3 ? NA : z(r, 0) + shift;
    cells(r, 1) = s < -0.5 ? 0 : s < 0.5 ? 1 : 2;
    cells(r, 2) = std::clamp(std::round(z(r, 0) + 2 + shift), 0.0, 4.0);
  }
  return make_table(columns, cells);
}

}  // namespace

TEST_CASE("html_escape, format_number and shorten: text for the page", "[report]") {
  CHECK(ldm::detail::html_escape("a<b&\"c'>d") == "a&lt;b&amp;&quot;c&#39;&gt;d");
  CHECK(ldm::detail::html_escape(std::string("x\x01y")) == "x y");
  CHECK(ldm::detail::format_number(3) == "3");
  CHECK(ldm::detail::format_number(0.123456) == "0.1235");
  CHECK(ldm::detail::format_number(-7.16) == "-7.16");
  CHECK(ldm::detail::format_percent(0.125) == "12.5%");
  CHECK(ldm::detail::shorten("abcdef", 4) == "abcd\u2026");
  CHECK(ldm::detail::shorten("abcd", 4) == "abcd");
  CHECK(ldm::detail::shorten("\u00e9\u00e9\u00e9", 2) == "\u00e9\u00e9\u2026");  // never a split character
}

TEST_CASE("column_distribution: shared bins, one bar per integer, categories and missing shares", "[report]") {
  const std::vector<ldm::Column> cols{numeric_column("v", true), numeric_column("k", false, ldm::ColumnType::integer),
                                      categorical_column("c", {"p", "q", "r"}, true)};
  Matrix<double> a(4, 3), b(2, 3);
  a << 0, 1, 0,  //
      1, 1, 0,   //
      2, 3, 1,   //
      NA, 3, NA;
  b << 4, 2, 2,  //
      0, 2, 2;
  const ldm::Table real = make_table(cols, a), synth = make_table(cols, b);

  const ldm::ColumnDistribution v = ldm::column_distribution(real, synth, 0, 4);
  CHECK(v.low == 0);
  CHECK(v.high == 4);  // the bins cover both tables: [0,1) [1,2) [2,3) [3,4]
  CHECK(v.labels == std::vector<std::string>{"[0, 1)", "[1, 2)", "[2, 3)", "[3, 4]"});
  CHECK(v.real == std::vector<double>{0.25, 0.25, 0.25, 0});  // shares of all 4 rows
  CHECK(v.synth == std::vector<double>{0.5, 0, 0, 0.5});
  CHECK(v.missing_real == 0.25);
  CHECK(v.missing_synth == 0);

  const ldm::ColumnDistribution k = ldm::column_distribution(real, synth, 1, 4);
  CHECK(k.labels == std::vector<std::string>{"1", "2", "3"});  // an integer column: one bar per value
  CHECK(k.real == std::vector<double>{0.5, 0, 0.5});
  CHECK(k.synth == std::vector<double>{0, 1, 0});

  const ldm::ColumnDistribution c = ldm::column_distribution(real, synth, 2);
  CHECK(c.labels == std::vector<std::string>{"p", "q", "r"});
  CHECK(c.real == std::vector<double>{0.5, 0.25, 0});
  CHECK(c.synth == std::vector<double>{0, 0, 1});
  CHECK(c.missing_real == 0.25);

  const ldm::ColumnDistribution folded = ldm::column_distribution(real, synth, 2, 20, 2);
  CHECK(folded.labels == std::vector<std::string>{"r", "other (2 categories)"});  // r is the most frequent
  CHECK(folded.real == std::vector<double>{0, 0.75});
  CHECK(folded.synth == std::vector<double>{1, 0});

  CHECK_THROWS_WITH(ldm::column_distribution(real, synth, 3), Contains("column 3 is outside [0, 3)"));
  CHECK_THROWS_WITH(ldm::column_distribution(real, synth, 0, 0), Contains("bins must be at least 1, got 0"));
}

TEST_CASE("column_distribution: a date column's bins are labelled with dates", "[report]") {
  const std::vector<ldm::Column> cols{numeric_column("d", false, ldm::ColumnType::date)};
  Matrix<double> a(2, 1), b(1, 1);
  a << 0, 20;  // 1970-01-01 and 1970-01-21
  b << 10;
  const ldm::ColumnDistribution d = ldm::column_distribution(make_table(cols, a), make_table(cols, b), 0, 2);
  CHECK(d.labels == std::vector<std::string>{"[1970-01-01, 1970-01-11)", "[1970-01-11, 1970-01-21]"});
  CHECK(d.real == std::vector<double>{0.5, 0.5});
  CHECK(d.synth == std::vector<double>{0, 1});
}

TEST_CASE("association_matrix: Pearson r as pair_trends computes it, Cramer's V for categories", "[report]") {
  const ldm::Table real = rows(1, 400), synth = rows(2, 300, 0.5);
  const Matrix<double> m = ldm::association_matrix(real, real, {0, 1, 2});
  const Matrix<double> s = ldm::association_matrix(synth, real, {0, 1, 2});
  const std::vector<ldm::PairTrend> pairs = ldm::pair_trends(real, synth);
  CHECK(m(0, 0) == 1);
  CHECK(m(0, 2) == m(2, 0));
  CHECK(m(0, 2) == pairs[1].real);  // pairs: (x, c), (x, n), (c, n)
  CHECK(s(0, 2) == pairs[1].synth);
  CHECK(m(0, 2) > 0.8);
  CHECK(m(0, 1) > 0.4);  // c follows x: a strong association
  CHECK(m(0, 1) <= 1);

  // A categorical column against itself has V = 1; against an unrelated one about 0.
  const std::vector<ldm::Column> cols{categorical_column("a", {"u", "v"}), categorical_column("b", {"u", "v"}),
                                      categorical_column("z", {"u", "v"})};
  Matrix<double> cells(400, 3);
  for (Eigen::Index r = 0; r < 400; ++r) cells.row(r) << r % 2, r % 2, (r / 2) % 2;
  const ldm::Table t = make_table(cols, cells);
  const Matrix<double> v = ldm::association_matrix(t, t, {0, 1, 2});
  CHECK(v(0, 1) == Approx(1.0));
  CHECK(v(0, 2) == Approx(0.0).margin(1e-12));
  CHECK_THROWS_WITH(ldm::association_matrix(t, t, {0, 5}), Contains("column 5 is outside [0, 3)"));
}

TEST_CASE("report_html: the figures of --json, one column per compared file, worst columns first", "[report]") {
  const ldm::Table train = rows(1, 200), held_out = rows(2, 120), synth = rows(3, 150, 0.4), base = rows(4, 150, 1.5);
  ldm::TableEvalOptions options;
  options.target = "c";
  const nlohmann::json q = ldm::evaluate_table(train, held_out, synth, options);
  const nlohmann::json qb = ldm::evaluate_table(train, held_out, base, options);
  ldm::ReportOptions ro;
  ro.real_name = "held_out.csv";
  ro.synth_name = "ldm.csv";
  const std::string page = ldm::report_html(held_out, synth, {{"ldm.csv", q}, {"copula.csv", qb}}, ro);

  CHECK(xml_problem(page).empty());
  CHECK(xml_problem(page) == "");
  CHECK_THAT(page, Contains("<th class=\"n\">ldm.csv</th><th class=\"n\">copula.csv</th>"));
  // Every figure of both files, exactly as --json prints it, and rounded in the cell.
  for (const char* key : {"shape_error", "trend_error", "missing_rate_error", "dcr_share", "dcr_ideal_share",
                          "exact_copies", "held_out_copies", "rows_synth", "rows_held_out"})
    for (const nlohmann::json* j : {&q, &qb}) {
      INFO(key);
      const nlohmann::json& v = j->at(key);
      CHECK_THAT(page, Contains("title=\"" + v.dump() + "\">" + ldm::detail::format_number(v.get<double>()) + "<"));
    }
  CHECK_THAT(page, Contains("title=\"" + q.at("utility").at("synthetic").dump() + "\""));
  CHECK_THAT(page, Contains("accuracy of a model of &#39;c&#39; trained on synthetic rows"));
  // The columns as --json lists them: worst first, their scores.
  const auto shapes = q.at("columns").get<std::vector<ldm::ColumnShape>>();
  const std::size_t first = page.find("<td>" + shapes[0].column + "</td>");
  const std::size_t last = page.find("<td>" + shapes[2].column + "</td>");
  CHECK(first < last);
  CHECK_THAT(page, Contains(ldm::detail::format_number(shapes[0].score)));
  const auto pairs = q.at("pairs").get<std::vector<ldm::PairTrend>>();
  CHECK_THAT(page, Contains("<td>" + pairs[0].column_a + "</td><td>" + pairs[0].column_b + "</td>"));
  // Three plots (no fold for 3 columns), three heatmaps of 3 x 3 cells.
  CHECK(count(page, "<div class=\"card\">") == 3);
  CHECK(count(page, "<details>") == 0);
  CHECK(count(page, "<svg ") == 6);
  CHECK_THAT(page, Contains(">NA</text>"));  // x has missing cells: its own group
  CHECK(page.find("<script") == std::string::npos);
  CHECK(page.find("http://") == page.find("http://www.w3.org"));  // only namespace names, nothing fetched
  CHECK(page.find("https://") == std::string::npos);
}

TEST_CASE("report_html: text from the data is escaped", "[report]") {
  const std::vector<ldm::Column> cols{numeric_column("a<b&\"c'"), categorical_column("k", {"<script>", "x&y"})};
  Matrix<double> cells(6, 2);
  cells << 1, 0, 2, 1, 3, 0, 4, 1, 5, 1, 6, 0;
  const ldm::Table t = make_table(cols, cells);
  ldm::ReportOptions ro;
  ro.title = "<b>title</b>";
  const std::string page = ldm::report_html(t, t, {}, ro);
  CHECK(xml_problem(page) == "");
  CHECK_THAT(page, Contains("a&lt;b&amp;&quot;c&#39;"));
  CHECK(page.find("a<b") == std::string::npos);
  CHECK_THAT(page, Contains("&lt;script&gt;"));
  CHECK(page.find("<script") == std::string::npos);
  CHECK_THAT(page, Contains("x&amp;y"));
  CHECK_THAT(page, Contains("&lt;b&gt;title&lt;/b&gt;"));
  CHECK_THAT(page, Contains("no figures given"));
}

TEST_CASE("report_html: numeric rows without per-column figures, and 300 columns folded", "[report]") {
  const Eigen::Index n_cols = 300;
  std::vector<ldm::Column> cols;
  for (Eigen::Index c = 0; c < n_cols; ++c) cols.push_back(numeric_column("col" + std::to_string(c)));
  const Matrix<double> z = ldm::normal<double>(ldm::make_key(5), 200, n_cols).values;
  Matrix<double> shifted = ldm::normal<double>(ldm::make_key(6), 200, n_cols).values;
  shifted.col(7).array() += 3.0;  // col7 differs most
  const ldm::Table real = make_table(cols, z), synth = make_table(cols, shifted);
  const nlohmann::json j = {{"rows_real", 200}, {"rows_synth", 200}, {"ks", 0.25}, {"new_figure", 1.5}};
  const std::string page = ldm::report_html(real, synth, {{"synthetic", j}});

  CHECK(xml_problem(page) == "");
  CHECK(page.size() < 3'000'000);
  CHECK_THAT(page, Contains("title=\"0.25\">0.25<"));
  CHECK_THAT(page, Contains("<td>new_figure</td>"));  // a figure the page has no words for, by its name
  CHECK_THAT(page, Contains("<tr><td class=\"n\">1</td><td>col7</td>"));
  CHECK_THAT(page, Contains("290 more columns"));
  CHECK_THAT(page, Contains("plots of 288 more columns"));
  CHECK_THAT(page, Contains("490 more pairs (of 44850; --json lists all)"));
  CHECK_THAT(page, Contains("Shown: the 30 columns of the pairs that differ most, of 300."));
  CHECK(count(page, "<div class=\"card\">") == 300);
  CHECK(count(page, "<details>") == 3);

  // Two columns: one pair, nothing folded.
  const std::vector<ldm::Column> two{numeric_column("p"), numeric_column("q")};
  const ldm::Table small = make_table(two, z.leftCols(2));
  const std::string p2 = ldm::report_html(small, small, {});
  CHECK(xml_problem(p2) == "");
  CHECK(count(p2, "<details>") == 0);
  CHECK_THAT(p2, Contains("<td>p</td><td>q</td><td>correlation</td><td class=\"n\">1</td>"));
  // The fast path for complete numeric tables agrees with pair_trends.
  const ldm::Table r5 = make_table({cols.begin(), cols.begin() + 5}, z.leftCols(5));
  const ldm::Table s5 = make_table({cols.begin(), cols.begin() + 5}, shifted.leftCols(5));
  const std::vector<ldm::PairTrend> fast = ldm::detail::complete_numeric_pair_trends(r5, s5);
  const std::vector<ldm::PairTrend> slow = ldm::pair_trends(r5, s5);
  REQUIRE(fast.size() == 10);
  for (std::size_t i = 0; i < fast.size(); ++i) {
    CHECK(fast[i].column_b == slow[i].column_b);
    CHECK(fast[i].real == Approx(slow[i].real).margin(1e-12));
    CHECK(fast[i].score == Approx(slow[i].score).margin(1e-12));
  }
  CHECK(ldm::detail::complete_numeric_pair_trends(rows(1, 20), rows(2, 20)).empty());  // categories, gaps
}

TEST_CASE("write_report: the page written atomically, an unwritable path named", "[report]") {
  const TempDir dir("report");
  const ldm::Table t = rows(1, 50);
  ldm::write_report(dir.file("page.html"), t, t, {});
  CHECK(read_bytes(dir.file("page.html")) == ldm::report_html(t, t, {}));
  CHECK(dir.entries() == std::vector<std::string>{"page.html"});  // no temporary file left
  CHECK_THROWS_WITH(ldm::write_report(dir.file("no/such/page.html"), t, t, {}), Contains("no/such/page.html"));
  CHECK_THROWS_AS(ldm::write_report(dir.file("no/such/page.html"), t, t, {}), std::runtime_error);
}
