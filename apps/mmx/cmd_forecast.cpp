// `mmx forecast --checkpoint CKPT --input FILE.csv [--output FILE.csv] [--plot FILE.png]
//  [--holdout] [--column NAME]`: forecasts pred_len rows after the last seq_len rows of a CSV that
// holds the training columns (found by name; other columns are ignored), in original units, with
// timestamps continued at the training data's step. A model trained with future covariates
// (MambaMixer §5.5) reads their values over the horizon from --future-covariates FILE (with
// --holdout: from the input's held-out rows); calendar features are computed from the timestamps.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "mmx/data/error.h"
#include "mmx/data/timeseries/csv_reader.h"
#include "mmx/data/timeseries/csv_writer.h"
#include "mmx/data/timeseries/forecast_source.h"
#include "mmx/data/timeseries/timestamps.h"
#include "mmx/train/tsm2_trainer.h"
#include "plot.h"

namespace mmx::cli {
namespace {

// Output paths must not replace an input: compared after resolving links and '..'.
void check_not_an_input(const std::string& option, const std::string& out,
                        const std::vector<std::pair<std::string, std::string>>& inputs) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path o = fs::weakly_canonical(fs::absolute(out), ec);
  for (const auto& [name, in] : inputs) {
    if (in.empty()) continue;
    std::error_code ec2;
    if (o == fs::weakly_canonical(fs::absolute(in), ec2))
      throw std::runtime_error(option + " " + out + " is the same file as " + name + "; expected a new file name");
  }
}

}  // namespace

void add_forecast(CLI::App& app) {
  auto* cmd = app.add_subcommand("forecast", "Forecast the rows that follow a CSV with a trained TSM2");
  static std::string ckpt, input, output, plot, column, future_path;
  static bool holdout = false;
  cmd->add_option("--checkpoint", ckpt, "best.safetensors of a run")->required();
  cmd->add_option("--input", input, "CSV with the training columns (found by name) and their timestamps")->required();
  cmd->add_option("--output", output, "forecast CSV (default: stdout)");
  cmd->add_option("--plot", plot, "PNG with history, forecast and (with --holdout) the true values");
  cmd->add_option("--column", column, "variate to plot (default: the target, else the last column)");
  cmd->add_option("--future-covariates", future_path,
                  "CSV with the future covariates of the model (found by name) for the pred_len steps after the "
                  "input's last row, with their timestamps");
  cmd->add_flag("--holdout", holdout,
                "treat the last pred_len rows of the input as the truth: forecast them from the "
                "seq_len rows before and report MSE/MAE against them");
  cmd->callback([] {
    // Everything is checked before anything is written.
    if (!output.empty())
      check_not_an_input("--output", output, {{"--input", input}, {"--checkpoint", ckpt}, {"--plot", plot}});
    if (!output.empty() && !future_path.empty())
      check_not_an_input("--output", output, {{"--future-covariates", future_path}});
    if (!plot.empty())
      check_not_an_input("--plot", plot,
                         {{"--input", input}, {"--checkpoint", ckpt}, {"--future-covariates", future_path}});
    if (!plot.empty() && std::filesystem::path(plot).extension() != ".png")
      throw std::runtime_error("--plot " + plot + ": the plot is written as PNG; give a .png file name");
    if (!column.empty() && plot.empty()) throw std::runtime_error("--column " + column + " needs --plot FILE.png");
    train::LoadedForecaster f = train::load_forecaster(ckpt);
    const int64_t L = f.config.data.seq_len, H = f.config.data.pred_len;
    // Columns: the variates, the named future covariates, the calendar features (computed).
    const int64_t V = f.model->options.n_vars(), CZ = f.model->options.n_future();
    const std::vector<std::string>& calendar = f.config.data.calendar;
    const auto n_cal = static_cast<int64_t>(calendar.size()), n_named = CZ - n_cal;
    const std::vector<std::string> variates(f.columns.begin(), f.columns.begin() + V);
    if (n_named > 0 && !holdout && future_path.empty()) {
      std::string names;
      for (const auto& c : f.config.data.future_covariates) names += (names.empty() ? "'" : ", '") + c + "'";
      throw std::runtime_error("the model " + ckpt + " reads the future values of " + names + " over the " +
                               std::to_string(H) +
                               " forecast steps: give them with --future-covariates FILE.csv (or use --holdout)");
    }
    if (holdout && !future_path.empty())
      throw std::runtime_error("--future-covariates " + future_path +
                               " with --holdout: the held-out rows of --input already carry the future covariates; "
                               "give one or the other");
    if (n_named == 0 && !future_path.empty())
      throw std::runtime_error("--future-covariates " + future_path + ": the model " + ckpt +
                               " was trained without named future covariates");
    data::CsvReadOptions opt;
    opt.missing = data::parse_missing_policy(f.config.data.fill);
    opt.date_column = f.date_column;
    opt.columns.assign(f.columns.begin(), f.columns.end() - n_cal);
    // As strict as training was: own files need increasing timestamps, benchmark files are read
    // as TSLib reads them.
    opt.require_increasing = !f.config.data.path.empty();
    data::TimeSeriesTable t;
    try {
      t = data::read_csv(input, opt);
    } catch (const data::DataError& e) {
      const std::string what = e.what();
      if (what.find("no such column") != std::string::npos || what.find("no such date column") != std::string::npos)
        throw std::runtime_error(what + "; the model " + ckpt + " was trained on those columns (the training columns)");
      throw;
    }
    // The written columns: every variate (M), or the target alone (S, MS).
    const bool one = f.target_index >= 0;
    const std::vector<std::string> out_columns =
        one ? std::vector<std::string>{f.columns[static_cast<size_t>(f.target_index)]} : variates;
    const std::string col = column.empty() ? out_columns.back() : column;
    const auto col_it = std::find(out_columns.begin(), out_columns.end(), col);
    if (col_it == out_columns.end())
      throw std::runtime_error("--column " + col + ": no such column among the forecast columns of " + ckpt);
    const int64_t need = L + (holdout ? H : 0);
    if (t.n_rows() < need)
      throw std::runtime_error(input + ": " + std::to_string(t.n_rows()) + " rows, but the model needs " +
                               std::to_string(need) + " (seq_len " + std::to_string(L) +
                               (holdout ? " + pred_len " + std::to_string(H) + " held out)" : ")"));
    const int64_t end = t.n_rows() - (holdout ? H : 0);
    const data::StandardScaler scaler{f.scaler.mean.narrow(0, 0, V), f.scaler.std.narrow(0, 0, V)};  // variates
    auto hist = t.values.slice(0, end - L, end).narrow(1, 0, V);  // (L, V) original units
    auto x = scaler.transform(hist).to(torch::kFloat32);
    if (!x.isfinite().all().item<bool>()) {
      const auto where = x.isfinite().logical_not().nonzero()[0];
      const int64_t r = where[0].item<int64_t>() + end - L, c = where[1].item<int64_t>();
      throw std::runtime_error(
          input + ":" + std::to_string(t.lines[static_cast<size_t>(r)]) + ": column '" +
          t.columns[static_cast<size_t>(c)] + "': value " + mmx::data::format_value(t.values[r][c].item<double>()) +
          " is too far from the training data's range to standardise; expected values on its scale");
    }
    const data::Frequency step =
        (f.freq.seconds > 0 || f.freq.months > 0) ? f.freq : data::infer_frequency(t.timestamps);
    const auto dates = data::next_timestamps(t.date_string(end - 1), step, H);
    const auto stamps = data::next_timestamps(t.timestamps[static_cast<size_t>(end - 1)], step, H);
    torch::Tensor z;  // (1, H, CZ) standardised future covariates
    if (CZ > 0) {
      std::vector<torch::Tensor> parts;
      std::vector<data::Timestamp> horizon = stamps;
      if (holdout) horizon.assign(t.timestamps.begin() + end, t.timestamps.begin() + end + H);
      if (n_named > 0 && holdout) parts.push_back(t.values.slice(0, end, end + H).narrow(1, V, n_named));
      if (n_named > 0 && !holdout) {
        data::CsvReadOptions fo = opt;
        fo.columns.assign(f.columns.begin() + V, f.columns.end() - n_cal);
        fo.require_increasing = true;
        const data::TimeSeriesTable fut = data::read_csv(future_path, fo);
        if (fut.n_rows() < H)
          throw std::runtime_error(future_path + ": " + std::to_string(fut.n_rows()) + " rows; expected the " +
                                   std::to_string(H) + " forecast steps from " + dates.front() + " to " + dates.back());
        for (int64_t h = 0; h < H; ++h)
          if (fut.timestamps[static_cast<size_t>(h)] != stamps[static_cast<size_t>(h)])
            throw std::runtime_error(future_path + ":" + std::to_string(fut.lines[static_cast<size_t>(h)]) +
                                     ": timestamp " + fut.date_string(h) + "; expected " +
                                     dates[static_cast<size_t>(h)] + " (forecast step " + std::to_string(h + 1) +
                                     " after the input's last row)");
        parts.push_back(fut.values.slice(0, 0, H));
      }
      if (n_cal > 0) parts.push_back(data::calendar_features(horizon, calendar));
      const data::StandardScaler zs{f.scaler.mean.narrow(0, V, CZ), f.scaler.std.narrow(0, V, CZ)};
      z = zs.transform(torch::cat(parts, 1)).to(torch::kFloat32).unsqueeze(0);
      if (!z.isfinite().all().item<bool>())
        throw std::runtime_error(
            "the future covariates hold values too far from the training data's range to "
            "standardise (or empty cells); expected values on its scale");
    }
    torch::Tensor pred;
    {
      torch::NoGradGuard ng;
      pred = f.model->forward(x.unsqueeze(0), z).squeeze(0).to(torch::kFloat64);
    }
    pred = scaler.inverse_transform(pred);  // (H, V) original units
    if (!pred.isfinite().all().item<bool>()) {
      const int64_t c = pred.isfinite().logical_not().nonzero()[0][1].item<int64_t>();
      throw std::runtime_error(ckpt + ": the forecast of column '" + t.columns[static_cast<size_t>(c)] +
                               "' is not finite (the input lies far outside the training data, or the checkpoint "
                               "is corrupt); nothing was written");
    }
    if (one) pred = pred.narrow(1, f.target_index, 1).contiguous();
    torch::Tensor truth;
    if (holdout) {
      truth = t.values.slice(0, end, end + H).narrow(1, 0, V);
      const torch::Tensor d =
          one ? (pred - truth.narrow(1, f.target_index, 1)) / f.scaler.std.narrow(0, f.target_index, 1)
              : scaler.transform(pred) - scaler.transform(truth);
      if (one) truth = truth.narrow(1, f.target_index, 1).contiguous();
      log_line("holdout: mse " + std::to_string(d.pow(2).mean().item<double>()) + ", mae " +
               std::to_string(d.abs().mean().item<double>()) + " (standardised), " + std::to_string(H) + " steps x " +
               std::to_string(pred.size(1)) + " variate(s)");
    }
    if (output.empty()) {
      std::cout << data::format_csv(t.date_column, out_columns, dates, pred);
    } else {
      data::write_forecast_csv(output, t.date_column, out_columns, dates, pred);
      log_line("wrote " + std::to_string(H) + " forecast rows to " + output);
    }
    if (!plot.empty()) {
      const int64_t m_out = col_it - out_columns.begin();
      const int64_t m_in = std::find(t.columns.begin(), t.columns.end(), col) - t.columns.begin();
      auto to_vec = [](const torch::Tensor& v, int64_t m) {
        auto c = v.select(1, m).contiguous();
        return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
      };
      const int64_t shown = std::min<int64_t>(L, 4 * H);
      const std::vector<int64_t> hist_t(t.timestamps.begin() + (end - shown), t.timestamps.begin() + end);
      const std::string name = f.config.data.dataset.empty()
                                   ? std::filesystem::path(f.config.data.path).filename().string()
                                   : f.config.data.dataset;
      const bool show_time = step.months == 0 && step.seconds < 86400;
      plot_forecast(plot,
                    name + " " + col + ": TSM2 forecast of " + std::to_string(H) + " steps of " + data::to_string(step),
                    hist_t, to_vec(hist.slice(0, L - shown, L), m_in), stamps, to_vec(pred, m_out),
                    holdout ? to_vec(truth, m_out) : std::vector<double>{}, show_time);
      log_line("wrote plot " + plot);
    }
  });
}

}  // namespace mmx::cli
