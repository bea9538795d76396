// `mmx forecast --checkpoint CKPT --input FILE.csv [--output FILE.csv] [--plot FILE.png]
//  [--holdout] [--column NAME]`: forecasts pred_len rows after the last seq_len rows of a CSV with
// the training columns, in original units, with timestamps continued at the data's step.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "mmx/data/csv.h"
#include "mmx/data/timestamps.h"
#include "mmx/train/trainer.h"
#include "plot.h"

namespace mmx::cli {

void add_forecast(CLI::App& app) {
  auto* cmd = app.add_subcommand("forecast", "Forecast the rows that follow a CSV with a trained TSM2");
  static std::string ckpt, input, output, plot, column;
  static bool holdout = false;
  cmd->add_option("--checkpoint", ckpt, "best.safetensors of a run")->required();
  cmd->add_option("--input", input, "CSV with the training columns (date + variates)")->required();
  cmd->add_option("--output", output, "forecast CSV (default: stdout)");
  cmd->add_option("--plot", plot, "PNG with history, forecast and (with --holdout) the true values");
  cmd->add_option("--column", column, "variate to plot (default: the last column, e.g. OT)");
  cmd->add_flag("--holdout", holdout,
                "treat the last pred_len rows of the input as the truth: forecast them from the "
                "seq_len rows before and report MSE/MAE against them");
  cmd->callback([] {
    train::LoadedForecaster f = train::load_forecaster(ckpt);
    const int64_t L = f.config.data.seq_len, H = f.config.data.pred_len;
    data::CsvReadOptions opt;
    opt.missing = data::parse_missing_policy(f.config.data.fill);
    data::TimeSeriesTable t = data::read_csv(input, opt);
    if (t.columns != f.columns) {
      std::string want, got;
      for (const auto& c : f.columns) want += (want.empty() ? "" : ",") + c;
      for (const auto& c : t.columns) got += (got.empty() ? "" : ",") + c;
      throw std::runtime_error(input + ": columns " + got + " differ from the training columns " +
                               want + " of " + ckpt);
    }
    if (!plot.empty() && std::filesystem::path(plot).extension() != ".png")
      throw std::runtime_error("--plot " + plot + ": the plot is written as PNG; give a .png file name");
    // --column only chooses the plotted variate: check it before anything is written.
    if (!column.empty() && plot.empty()) throw std::runtime_error("--column " + column + " needs --plot FILE.png");
    const std::string col = column.empty() ? t.columns.back() : column;
    const auto col_it = std::find(t.columns.begin(), t.columns.end(), col);
    if (col_it == t.columns.end())
      throw std::runtime_error("--column " + col + ": no such column in " + input);
    const int64_t need = L + (holdout ? H : 0);
    if (t.n_rows() < need)
      throw std::runtime_error(input + ": " + std::to_string(t.n_rows()) + " rows, but the model needs " +
                               std::to_string(need) + " (seq_len " + std::to_string(L) +
                               (holdout ? " + pred_len " + std::to_string(H) + " held out)" : ")"));
    const int64_t end = t.n_rows() - (holdout ? H : 0);
    auto hist = t.values.slice(0, end - L, end);                       // (L, M) original units
    auto x = f.scaler.transform(hist).to(torch::kFloat32).unsqueeze(0);
    torch::Tensor pred;
    {
      torch::NoGradGuard ng;
      pred = f.model->forward(x).squeeze(0).to(torch::kFloat64);
    }
    pred = f.scaler.inverse_transform(pred);                           // (H, M) original units
    const int64_t step = data::infer_step_seconds(t.timestamps);
    const auto dates = data::next_timestamps(t.date_string(end - 1), step, H);
    if (output.empty()) {
      std::cout << data::format_csv(t.date_column, t.columns, dates, pred);
    } else {
      data::write_forecast_csv(output, t.date_column, t.columns, dates, pred);
      log_line("wrote " + std::to_string(H) + " forecast rows to " + output);
    }
    torch::Tensor truth;
    if (holdout) {
      truth = t.values.slice(0, end, end + H);
      auto d = (f.scaler.transform(pred) - f.scaler.transform(truth));
      log_line("holdout: mse " + std::to_string(d.pow(2).mean().item<double>()) + ", mae " +
               std::to_string(d.abs().mean().item<double>()) + " (standardised), " +
               std::to_string(H) + " steps x " + std::to_string(t.n_vars()) + " variates");
    }
    if (!plot.empty()) {
      const int64_t m = col_it - t.columns.begin();
      auto to_vec = [&](const torch::Tensor& v) {
        auto c = v.select(1, m).contiguous();
        return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
      };
      const int64_t shown = std::min<int64_t>(L, 4 * H);
      plot_forecast(plot, f.config.data.dataset + " " + col + ": TSM2 forecast (" + std::to_string(H) + " steps)",
                    "steps of " + std::to_string(step) + " s after the last input row",
                    to_vec(hist.slice(0, L - shown, L)), to_vec(pred),
                    holdout ? to_vec(truth) : std::vector<double>{});
      log_line("wrote plot " + plot);
    }
  });
}

}  // namespace mmx::cli
