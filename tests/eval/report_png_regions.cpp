// For the browser test of the report (report_browser_test.sh): does a screenshot have content
// where the page should have it? Usage:
//   report_png_regions SHOT.png Y0:Y1:INK:COLOUR [...]
// For each band of rows [Y0, Y1) it prints the share of pixels with ink (not near-white) and of
// coloured ones (plot bars, heatmap cells: channels far apart, unlike text), and fails (exit 1)
// when either is below its minimum. The PNG is read with stb_image (Debian's libstb).
#include <stb/stb_image.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s SHOT.png Y0:Y1:INK:COLOUR [...]\n", argv[0]);
    return 2;
  }
  int width = 0, height = 0, channels = 0;
  unsigned char* pixels = stbi_load(argv[1], &width, &height, &channels, 3);
  if (!pixels) {
    std::fprintf(stderr, "report_png_regions: cannot read %s: %s\n", argv[1], stbi_failure_reason());
    return 2;
  }
  std::printf("%s: %d x %d\n", argv[1], width, height);
  int failures = 0;
  for (int a = 2; a < argc; ++a) {
    int y0 = 0, y1 = 0;
    double min_ink = 0, min_colour = 0;
    if (std::sscanf(argv[a], "%d:%d:%lf:%lf", &y0, &y1, &min_ink, &min_colour) != 4 || y0 < 0 || y1 <= y0) {
      std::fprintf(stderr, "report_png_regions: bad region '%s'\n", argv[a]);
      return 2;
    }
    y1 = std::min(y1, height);
    long ink = 0, colour = 0, total = 0;
    for (int y = y0; y < y1; ++y)
      for (int x = 0; x < width; ++x) {
        const unsigned char* p = pixels + 3 * (static_cast<long>(y) * width + x);
        const int lo = std::min({p[0], p[1], p[2]}), hi = std::max({p[0], p[1], p[2]});
        ink += lo < 200 ? 1 : 0;
        colour += hi - lo > 60 ? 1 : 0;
        ++total;
      }
    const double ink_share = total ? static_cast<double>(ink) / static_cast<double>(total) : 0.0;
    const double colour_share = total ? static_cast<double>(colour) / static_cast<double>(total) : 0.0;
    const bool ok = total > 0 && ink_share >= min_ink && colour_share >= min_colour;
    std::printf("rows %d-%d: ink %.4f (min %.4f), colour %.4f (min %.4f) %s\n", y0, y1, ink_share, min_ink,
                colour_share, min_colour, ok ? "ok" : "FAILED");
    failures += ok ? 0 : 1;
  }
  stbi_image_free(pixels);
  return failures ? 1 : 0;
}
