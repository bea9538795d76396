// Forecast plot through gnuplot (a plotting program, not hand-drawn graphics).
#pragma once

#include <string>
#include <vector>

namespace mmx::cli {

/// Draws history (steps -n..-1), forecast (0..H-1) and, when given, the true values over the
/// forecast steps into a PNG at `png_path` (written to a temporary name, then renamed).
/// Throws std::runtime_error when gnuplot is missing or fails.
void plot_forecast(const std::string& png_path, const std::string& title, const std::string& x_label,
                   const std::vector<double>& history, const std::vector<double>& forecast,
                   const std::vector<double>& truth);

}  // namespace mmx::cli
