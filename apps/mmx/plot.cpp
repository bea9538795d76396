// gnuplot driver for `mmx forecast --plot` and the demo.
#include "plot.h"

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

// POSIX file calls only: libtorch exports its own std::filesystem symbols, and remove_all from
// it crashed (docs/data.md).
namespace mmx::cli {

void plot_forecast(const std::string& png_path, const std::string& title, const std::vector<std::int64_t>& history_t,
                   const std::vector<double>& history, const std::vector<std::int64_t>& forecast_t,
                   const std::vector<double>& forecast, const std::vector<double>& truth, bool show_time) {
  char tmpl[] = "/tmp/mmx-plot-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("cannot create a temporary directory for the plot");
  const std::string dir(tmpl);
  const std::vector<std::string> files = {"history.dat", "forecast.dat", "truth.dat", "plot.gp", "err.txt"};
  auto cleanup = [&] {
    for (const auto& f : files) ::unlink((dir + "/" + f).c_str());
    ::rmdir(dir.c_str());
  };
  auto write_series = [&](const std::string& name, const std::vector<std::int64_t>& t, const std::vector<double>& v) {
    std::ofstream out(dir + "/" + name);
    out.precision(17);
    for (size_t i = 0; i < v.size() && i < t.size(); ++i) out << t[i] << " " << v[i] << "\n";
  };
  write_series("history.dat", history_t, history);
  write_series("forecast.dat", forecast_t, forecast);
  if (!truth.empty()) write_series("truth.dat", forecast_t, truth);
  // Temporary PNG next to the target, renamed into place when gnuplot succeeded.
  const auto slash = png_path.rfind('/');
  const std::string tmp_png = (slash == std::string::npos ? std::string() : png_path.substr(0, slash + 1)) + "." +
                              png_path.substr(slash == std::string::npos ? 0 : slash + 1) + ".tmp";
  std::string safe_title = title;  // a column name may hold gnuplot's quote or escape character
  for (auto& c : safe_title)
    if (c == '"' || c == '\\' || c == '\n' || c == '\r') c = '\'';
  {
    std::ofstream gp(dir + "/plot.gp");
    gp << "set terminal pngcairo size 1000,450 font ',10'\n"
       << "set output '" << tmp_png << "'\n"
       << "set title \"" << safe_title << "\" noenhanced\n"
       << "set xdata time\nset timefmt '%s'\nset format x \"" << (show_time ? "%Y-%m-%d\\n%H:%M" : "%Y-%m-%d")
       << "\"\nset grid\nset key top left\n"
       << "plot '" << dir << "/history.dat' using 1:2 with lines lw 1.5 lc rgb '#404040' title 'history'";
    if (!truth.empty()) gp << ", '" << dir << "/truth.dat' using 1:2 with lines lw 1.5 lc rgb '#2a9d2a' title 'true'";
    gp << ", '" << dir << "/forecast.dat' using 1:2 with lines lw 2 lc rgb '#d62728' title 'forecast'\n";
  }
  const std::string cmd = "gnuplot '" + dir + "/plot.gp' 2>'" + dir + "/err.txt'";
  const int rc = std::system(cmd.c_str());
  if (rc != 0 || ::access(tmp_png.c_str(), F_OK) != 0) {
    std::ifstream err(dir + "/err.txt");
    std::string msg((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
    cleanup();
    ::unlink(tmp_png.c_str());
    throw std::runtime_error("gnuplot failed (is gnuplot installed? tools/setup.sh installs it): " + msg);
  }
  cleanup();
  if (std::rename(tmp_png.c_str(), png_path.c_str()) != 0) {
    ::unlink(tmp_png.c_str());
    throw std::runtime_error("cannot write the plot to " + png_path);
  }
}

}  // namespace mmx::cli
