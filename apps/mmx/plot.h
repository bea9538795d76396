// Forecast plot through gnuplot (a plotting program, not hand-drawn graphics).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mmx::cli {

/// Draws history, forecast and, when given, the true values over the forecast rows into a PNG at
/// `png_path` (written to a temporary name, then renamed), against their timestamps (seconds
/// since 1970, read as UTC: history_t matches history, forecast_t matches forecast and truth);
/// the time axis shows dates, with the time of day when `show_time`.
/// Throws std::runtime_error when gnuplot is missing or fails.
void plot_forecast(const std::string& png_path, const std::string& title, const std::vector<std::int64_t>& history_t,
                   const std::vector<double>& history, const std::vector<std::int64_t>& forecast_t,
                   const std::vector<double>& forecast, const std::vector<double>& truth, bool show_time);

}  // namespace mmx::cli
