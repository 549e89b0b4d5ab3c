# Exports the real tables of the comparison (bench/tables/run.sh) from Debian's R packages to
# CSV, missing cells as NA. Usage: Rscript export.R OUT_DIR
# Identifier columns (a name, a model, a sample id) are left out: they are unique per row and
# no synthesiser should reproduce them.
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 1) args[1] else "."
dir.create(out, showWarnings = FALSE, recursive = TRUE)
put <- function(df, name) {
  df <- as.data.frame(df)
  for (c in names(df)) if (is.factor(df[[c]])) df[[c]] <- as.character(df[[c]])
  write.csv(df, file.path(out, paste0(name, ".csv")), row.names = FALSE, na = "NA")
  cat(sprintf("%-10s %6d rows %3d columns %5d missing cells\n", name, nrow(df), ncol(df), sum(is.na(df))))
}
suppressPackageStartupMessages({ library(MASS); library(ggplot2) })
put(subset(ggplot2::msleep, select = -c(name, genus)), "msleep")      # 83 mammals
put(MASS::survey, "survey")                                          # 237 students
put(subset(MASS::biopsy, select = -ID), "biopsy")                    # 699 tumours
put(ggplot2::txhousing, "txhousing")                                 # 8,602 city-months
put(ggplot2::diamonds, "diamonds")                                   # 53,940 diamonds
put(subset(ggplot2::midwest, select = -c(PID, county)), "midwest")  # 437 counties (PID, county: identify the row)
put(ggplot2::mpg, "mpg")                                             # 234 cars
