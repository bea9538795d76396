// gnuplot driver for `mmx forecast --plot` and the demo.
#include "plot.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace mmx::cli {
namespace fs = std::filesystem;

void plot_forecast(const std::string& png_path, const std::string& title, const std::string& x_label,
                   const std::vector<double>& history, const std::vector<double>& forecast,
                   const std::vector<double>& truth) {
  char tmpl[] = "/tmp/mmx-plot-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("cannot create a temporary directory for the plot");
  const fs::path dir(tmpl);
  auto write_series = [&](const char* name, const std::vector<double>& v, long first) {
    std::ofstream out(dir / name);
    for (size_t i = 0; i < v.size(); ++i) out << first + static_cast<long>(i) << " " << v[i] << "\n";
  };
  write_series("history.dat", history, -static_cast<long>(history.size()));
  write_series("forecast.dat", forecast, 0);
  if (!truth.empty()) write_series("truth.dat", truth, 0);
  const fs::path target = fs::absolute(png_path);
  const fs::path tmp_png = target.parent_path() / ("." + target.filename().string() + ".tmp");
  {
    std::ofstream gp(dir / "plot.gp");
    gp << "set terminal pngcairo size 1000,450 font ',10'\n"
       << "set output '" << tmp_png.string() << "'\n"
       << "set title \"" << title << "\" noenhanced\n"
       << "set xlabel '" << x_label << "'\nset grid\nset key top left\n"
       << "plot '" << (dir / "history.dat").string() << "' with lines lw 1.5 lc rgb '#404040' title 'history'";
    if (!truth.empty())
      gp << ", '" << (dir / "truth.dat").string() << "' with lines lw 1.5 lc rgb '#2a9d2a' title 'true'";
    gp << ", '" << (dir / "forecast.dat").string() << "' with lines lw 2 lc rgb '#d62728' title 'forecast'\n";
  }
  const std::string cmd = "gnuplot '" + (dir / "plot.gp").string() + "' 2>'" + (dir / "err.txt").string() + "'";
  const int rc = std::system(cmd.c_str());
  if (rc != 0 || !fs::exists(tmp_png)) {
    std::ifstream err(dir / "err.txt");
    std::string msg((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
    fs::remove_all(dir);
    fs::remove(tmp_png);
    throw std::runtime_error("gnuplot failed (is gnuplot installed? tools/setup.sh installs it): " + msg);
  }
  fs::rename(tmp_png, target);
  fs::remove_all(dir);
}

}  // namespace mmx::cli
